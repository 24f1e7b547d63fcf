//! A sliding window kept in sorted order beside its arrival order, so its
//! median and median absolute deviation cost a binary search instead of a
//! selection over the whole window per row. They are exactly the values
//! [`median_in_place`](super::likelihood::median_in_place) gives (the same
//! element, the same subtractions), so scores do not change.

use std::collections::VecDeque;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(from = "WindowFile")]
pub struct OrderedWindow {
    capacity: usize,
    /// Arrival order (the oldest is dropped first).
    arrival: VecDeque<f64>,
    /// The same values, ascending. Not saved: sorted again when read (the
    /// same sequence: values are ordered by `total_cmp`, so equal ones are
    /// the same bits).
    #[serde(skip_serializing)]
    sorted: Vec<f64>,
}

/// A window as saved (state format 1 also saved `sorted`; it is ignored).
#[derive(serde::Deserialize)]
struct WindowFile {
    capacity: usize,
    arrival: VecDeque<f64>,
}

impl From<WindowFile> for OrderedWindow {
    fn from(file: WindowFile) -> Self {
        let mut sorted: Vec<f64> = file.arrival.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        Self {
            capacity: file.capacity,
            arrival: file.arrival,
            sorted,
        }
    }
}

impl OrderedWindow {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            // Grown as rows come (a fleet's young series stay small).
            arrival: VecDeque::new(),
            sorted: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// Adds a finite value, dropping the oldest past the capacity.
    pub fn push(&mut self, value: f64) {
        let at = self.sorted.partition_point(|v| v.total_cmp(&value).is_lt());
        self.sorted.insert(at, value);
        self.arrival.push_back(value);
        if self.arrival.len() > self.capacity
            && let Some(old) = self.arrival.pop_front()
        {
            let at = self.sorted.partition_point(|v| v.total_cmp(&old).is_lt());
            self.sorted.remove(at);
        }
    }

    /// The upper median (the element at `len / 2` in sorted order), as
    /// `median_in_place`.
    pub fn median(&self) -> Option<f64> {
        self.sorted.get(self.sorted.len() / 2).copied()
    }

    /// The median of |v − median| over the window (its element at `len / 2`
    /// in sorted order), found as the k-th smallest of two sorted runs: the
    /// distances below the median and those from it up.
    pub fn median_abs_deviation(&self) -> Option<f64> {
        let n = self.sorted.len();
        let median = self.median()?;
        let h = n / 2;
        let s = &self.sorted;
        // Below: m − s[h−1−i], ascending in i; above: s[h+j] − m, ascending in j.
        // `(v - m).abs()` is the same number as `m - v` for v ≤ m.
        let below = |i: usize| (s[h - 1 - i] - median).abs();
        let above = |j: usize| (s[h + j] - median).abs();
        Some(kth_of_two(below, h, above, n - h, n / 2))
    }
    /// The median of |v − median| over the values that differ from the
    /// median (the upper median, as everywhere here), or None when fewer
    /// than `min_count` do: the typical size of a departure, a scale for a
    /// window where most values are equal and the MAD is 0 (a counter's
    /// rate that is usually 0 and now and then one event's worth).
    pub fn median_departure(&self, min_count: usize) -> Option<f64> {
        let median = self.median()?;
        let s = &self.sorted;
        let n = s.len();
        // The values equal to the median are s[below..above].
        let below = s.partition_point(|v| *v < median);
        let above = s.partition_point(|v| *v <= median);
        let count = below + (n - above);
        if count < min_count.max(1) {
            return None;
        }
        let lower = |i: usize| (s[below - 1 - i] - median).abs();
        let upper = |j: usize| (s[above + j] - median).abs();
        Some(kth_of_two(lower, below, upper, n - above, count / 2))
    }
}

/// The k-th smallest (0-based) of the union of two ascending sequences of
/// lengths `la` and `lb` (k < la + lb).
fn kth_of_two(
    a: impl Fn(usize) -> f64,
    la: usize,
    b: impl Fn(usize) -> f64,
    lb: usize,
    k: usize,
) -> f64 {
    // i values from `a` among the k + 1 smallest, j = k + 1 − i from `b`.
    let mut lo = (k + 1).saturating_sub(lb);
    let mut hi = la.min(k + 1);
    loop {
        let i = (lo + hi) / 2;
        let j = k + 1 - i;
        if i > 0 && j < lb && a(i - 1) > b(j) {
            hi = i - 1;
        } else if j > 0 && i < la && b(j - 1) > a(i) {
            lo = i + 1;
        } else {
            let from_a = if i > 0 { a(i - 1) } else { f64::NEG_INFINITY };
            let from_b = if j > 0 { b(j - 1) } else { f64::NEG_INFINITY };
            return from_a.max(from_b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Rng;
    use crate::detect::online::likelihood::median_in_place;

    /// Slides `values` through a window of `capacity` and through a plain
    /// queue of the same values; `check` gets the row, the window and the
    /// queue's values (unsorted) after each push.
    fn slide(
        capacity: usize,
        values: impl Iterator<Item = f64>,
        mut check: impl FnMut(usize, &OrderedWindow, Vec<f64>),
    ) {
        let mut window = OrderedWindow::new(capacity);
        let mut plain: VecDeque<f64> = VecDeque::new();
        for (row, v) in values.enumerate() {
            window.push(v);
            plain.push_back(v);
            if plain.len() > capacity {
                plain.pop_front();
            }
            check(row, &window, plain.iter().copied().collect());
        }
    }

    /// Saved without its sorted copy, read back the same (sorted again);
    /// a format-1 window that saved both reads the same.
    #[test]
    fn a_window_saved_without_its_sorted_copy_reads_back_the_same() {
        let mut rng = Rng::new(9);
        let mut window = OrderedWindow::new(50);
        for row in 0..120 {
            window.push(if row % 5 == 0 { 0.0 } else { rng.normal() });
        }
        window.push(-0.0);
        let mut saved = Vec::new();
        ciborium::into_writer(&window, &mut saved).expect("save");
        let back: OrderedWindow = ciborium::from_reader(saved.as_slice()).expect("read");
        assert_eq!(back, window);
        assert!(
            back.sorted
                .iter()
                .zip(&window.sorted)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );

        #[derive(serde::Serialize)]
        struct FormatOne<'a> {
            capacity: usize,
            arrival: &'a VecDeque<f64>,
            sorted: &'a Vec<f64>,
        }
        let mut old = Vec::new();
        let one = FormatOne {
            capacity: window.capacity,
            arrival: &window.arrival,
            sorted: &window.sorted,
        };
        ciborium::into_writer(&one, &mut old).expect("save format 1");
        assert!(
            saved.len() * 3 < old.len() * 2,
            "{} vs {}",
            saved.len(),
            old.len()
        );
        let back: OrderedWindow = ciborium::from_reader(old.as_slice()).expect("read format 1");
        assert_eq!(back, window);
    }

    #[test]
    fn median_and_mad_equal_the_selection_on_every_row() {
        let mut rng = Rng::new(4);
        for capacity in [1, 2, 3, 10, 57] {
            // Ties and plateaus as well as noise.
            let values: Vec<f64> = (0..600)
                .map(|row| {
                    if row % 7 == 0 {
                        3.0
                    } else {
                        (rng.normal() * 4.0).round() / 2.0
                    }
                })
                .collect();
            slide(capacity, values.into_iter(), |row, window, mut sorted| {
                let median = median_in_place(&mut sorted);
                let mut deviations: Vec<f64> = sorted.iter().map(|x| (x - median).abs()).collect();
                let mad = median_in_place(&mut deviations);
                assert_eq!(
                    window.median(),
                    Some(median),
                    "capacity {capacity}, row {row}"
                );
                assert_eq!(
                    window.median_abs_deviation(),
                    Some(mad),
                    "capacity {capacity}, row {row}"
                );
            });
        }
        assert_eq!(OrderedWindow::new(5).median(), None);
    }

    #[test]
    fn the_departure_scale_is_the_median_size_of_the_values_off_the_median() {
        let mut rng = Rng::new(8);
        for capacity in [3, 20, 300] {
            // Mostly zero, now and then a bump: the MAD is 0.
            let values: Vec<f64> = (0..900)
                .map(|_| {
                    if rng.uniform() < 0.2 {
                        (rng.normal() * 4.0).round()
                    } else {
                        0.0
                    }
                })
                .collect();
            slide(capacity, values.into_iter(), |row, window, mut sorted| {
                let median = median_in_place(&mut sorted);
                let mut off: Vec<f64> = sorted
                    .iter()
                    .map(|x| (x - median).abs())
                    .filter(|d| *d > 0.0)
                    .collect();
                let expected = (off.len() >= 4).then(|| median_in_place(&mut off));
                assert_eq!(
                    window.median_departure(4),
                    expected,
                    "capacity {capacity}, row {row}"
                );
            });
        }
    }
}
