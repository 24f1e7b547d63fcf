//! The contextual detector's memory: its semi-contexts (sets of facts) and
//! contexts (a left and a right semi-context), packed as `u32` ids into flat
//! arrays. A semi-context's facts are stored once (an id table finds them
//! by their hash), a left semi-context's contexts are a chain through the
//! context array, and a crossing keeps one count per semi-context rather
//! than a list of matched facts: less than half the memory of a map per
//! semi-context (381 → 163 KiB a series after 4,880 rows,
//! `benches/README.md`), with the same scores.
//!
//! Saved as each side's facts and the contexts (state format 2); what
//! indexes them is rebuilt when read. The layout of format 1 (a map from
//! facts to ids per side) is read too.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use hashbrown::HashTable;
use serde::ser::SerializeStruct;

pub(super) type Facts = Vec<u32>;

/// Which half: left (the previous step) or right (the current step).
pub(super) const LEFT: usize = 0;
pub(super) const RIGHT: usize = 1;

/// The end of a chain of contexts.
const NONE: u32 = u32::MAX;

/// One side's semi-contexts.
#[derive(Debug, Clone, Default)]
struct Side {
    /// Every semi-context's facts, one after another: semi-context `id`'s
    /// run from `starts[id]` to the next one's start.
    facts: Vec<u32>,
    starts: Vec<u32>,
    /// Semi-context ids, found by the hash of their facts.
    ids: HashTable<u32>,
    /// Fact → the semi-contexts holding it, oldest first.
    by_fact: HashMap<u32, Vec<u32>, BuildHasherDefault<IdHasher>>,
    /// Per semi-context: how many of its facts the last crossing matched.
    matched: Vec<u16>,
    /// Semi-contexts with at least one fact matched in the last crossing,
    /// in the order they were first matched.
    crossed: Vec<u32>,
    /// The facts of the last crossing.
    crossing: Facts,
}

impl Side {
    fn len(&self) -> usize {
        self.starts.len()
    }

    fn facts_of(&self, id: u32) -> &[u32] {
        span(&self.facts, &self.starts, id)
    }

    /// The id of the semi-context with these facts, made if new.
    fn id(&mut self, facts: &[u32]) -> u32 {
        let hash = hash_facts(facts);
        let Side {
            facts: all,
            starts,
            ids,
            ..
        } = self;
        if let Some(id) = ids.find(hash, |id| span(all, starts, *id) == facts) {
            return *id;
        }
        let id = u32::try_from(starts.len()).unwrap_or(NONE);
        starts.push(u32::try_from(all.len()).unwrap_or(u32::MAX));
        all.extend_from_slice(facts);
        ids.insert_unique(hash, id, |id| hash_facts(span(all, starts, *id)));
        self.matched.push(0);
        for fact in facts {
            self.by_fact.entry(*fact).or_default().push(id);
        }
        id
    }

    /// Matches `facts` (ascending) against every semi-context.
    fn cross(&mut self, facts: &[u32]) {
        debug_assert!(facts.is_sorted_by(|a, b| a < b), "{facts:?}");
        for id in self.crossed.drain(..) {
            self.matched[id as usize] = 0;
        }
        for fact in facts {
            let Some(ids) = self.by_fact.get(fact) else {
                continue;
            };
            for id in ids {
                let matched = &mut self.matched[*id as usize];
                if *matched == 0 {
                    self.crossed.push(*id);
                }
                *matched += 1;
            }
        }
        self.crossing.clear();
        self.crossing.extend_from_slice(facts);
    }

    /// How many of `id`'s facts the last crossing matched, and whether that
    /// was all of them.
    fn matched(&self, id: u32) -> (usize, bool) {
        let matched = usize::from(self.matched[id as usize]);
        (matched, matched == self.facts_of(id).len())
    }

    /// Appends the facts of `id` the last crossing matched to `out`, in the
    /// crossing's order: both are ascending (a crossing's facts are sorted,
    /// and a semi-context's are checked when a memory is read), so one merge.
    fn push_matched_facts(&self, id: u32, out: &mut Facts) {
        let (mut own, mut crossing) = (self.facts_of(id).iter(), self.crossing.iter());
        let (mut a, mut b) = (own.next(), crossing.next());
        while let (Some(x), Some(y)) = (a, b) {
            match x.cmp(y) {
                std::cmp::Ordering::Less => a = own.next(),
                std::cmp::Ordering::Greater => b = crossing.next(),
                std::cmp::Ordering::Equal => {
                    out.push(*x);
                    a = own.next();
                    b = crossing.next();
                }
            }
        }
    }
}

fn span<'a>(facts: &'a [u32], starts: &[u32], id: u32) -> &'a [u32] {
    &facts[span_range(facts.len(), starts, id as usize)]
}

/// Where semi-context `id`'s facts lie among `len` facts laid out by
/// `starts`.
fn span_range(len: usize, starts: &[u32], id: usize) -> std::ops::Range<usize> {
    let start = starts[id] as usize;
    let end = starts.get(id + 1).map_or(len, |end| *end as usize);
    start..end
}

#[derive(Debug, Clone)]
struct Context {
    hits: u64,
    left: u32,
    right: u32,
    /// The next (older) context of the same left semi-context.
    next: u32,
    /// Made from a whole step (left facts → next step's facts), not from
    /// a partial match.
    zero_level: bool,
}

/// The semi-contexts and contexts learned so far.
#[derive(Debug, Clone, Default)]
pub(super) struct Memory {
    sides: [Side; 2],
    /// Per left semi-context: its newest context (its others follow
    /// [`Context::next`]).
    first_context: Vec<u32>,
    contexts: Vec<Context>,
    /// Context ids, found by the hash of (left, right).
    context_ids: HashTable<u32>,
    /// The zero-level context created in this step (it cannot fire yet).
    new_context: Option<u32>,
}

impl Memory {
    fn semi_id(&mut self, side: usize, facts: &[u32]) -> u32 {
        let id = self.sides[side].id(facts);
        if side == LEFT && self.first_context.len() < self.sides[LEFT].len() {
            self.first_context.push(NONE);
        }
        id
    }

    fn context_id(&self, left: u32, right: u32) -> Option<u32> {
        let contexts = &self.contexts;
        self.context_ids
            .find(hash_pair(left, right), |id| {
                let c = &contexts[*id as usize];
                (c.left, c.right) == (left, right)
            })
            .copied()
    }

    fn push_context(&mut self, left: u32, right: u32, zero_level: bool) -> u32 {
        let id = u32::try_from(self.contexts.len()).unwrap_or(NONE);
        let first = &mut self.first_context[left as usize];
        self.contexts.push(Context {
            hits: 0,
            left,
            right,
            next: *first,
            zero_level,
        });
        *first = id;
        let contexts = &self.contexts;
        self.context_ids
            .insert_unique(hash_pair(left, right), id, |id| {
                let c = &contexts[*id as usize];
                hash_pair(c.left, c.right)
            });
        id
    }

    /// Stores the contexts not yet known; returns how many were new. For a
    /// zero-level context, whether it was new (and marks a known one as
    /// zero-level).
    pub(super) fn add_contexts<'a>(
        &mut self,
        candidates: impl IntoIterator<Item = (&'a [u32], &'a [u32])>,
        zero_level: bool,
    ) -> usize {
        let mut added = 0;
        for (left_facts, right_facts) in candidates {
            let left = self.semi_id(LEFT, left_facts);
            let right = self.semi_id(RIGHT, right_facts);
            match self.context_id(left, right) {
                None => {
                    let id = self.push_context(left, right, zero_level);
                    added += 1;
                    if zero_level {
                        self.new_context = Some(id);
                        return 1;
                    }
                }
                Some(id) if zero_level => {
                    self.contexts[id as usize].zero_level = true;
                    return 0;
                }
                Some(_) => {}
            }
        }
        added
    }

    /// Matches `facts` against every semi-context of `side`.
    pub(super) fn cross(&mut self, side: usize, facts: &[u32]) {
        self.sides[side].cross(facts);
    }

    /// After crossing the right side with the current facts: the contexts
    /// whose both halves match fire; partial matches of contexts that once
    /// followed a whole step become candidates for new contexts.
    /// Returns (fired context ids, contexts whose left half matched,
    /// candidates).
    pub(super) fn fire(
        &mut self,
        new_zero_level: bool,
        max_left: usize,
    ) -> (Vec<u32>, usize, Candidates) {
        let mut fired = Vec::new();
        let mut selected = 0;
        // Candidates as (left, right) semi-context ids first: many contexts
        // give the same pair, and ids are cheaper to sort than facts.
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        let [left_side, right_side] = &self.sides;
        for &left in &left_side.crossed {
            let (left_matched, left_whole) = left_side.matched(left);
            // A partly matched left half only ever makes candidates, and
            // only in a step that made a new zero-level context.
            let partial_candidates = new_zero_level && left_matched <= max_left;
            if !(left_whole || partial_candidates) {
                continue;
            }
            let mut id = self.first_context[left as usize];
            while id != NONE {
                let context = &self.contexts[id as usize];
                let this = id;
                id = context.next;
                if Some(this) == self.new_context {
                    continue;
                }
                let (right_matched, right_whole) = right_side.matched(context.right);
                if left_whole {
                    selected += 1;
                    if right_matched > 0 {
                        if right_whole {
                            fired.push(this);
                        } else if context.zero_level && right_matched < max_left {
                            pairs.push((left, context.right));
                        }
                    }
                } else if context.zero_level {
                    pairs.push((left, context.right));
                }
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut candidates = Candidates::default();
        // Each semi-context's matched facts are gathered once; candidates
        // that share a half share its span.
        let mut last_left: Option<(u32, [usize; 2])> = None;
        let mut rights: Vec<(u32, [usize; 2])> = Vec::new();
        for (left, right) in pairs {
            let [left_start, left_end] = match last_left {
                // Pairs are sorted by left half.
                Some((id, span)) if id == left => span,
                _ => {
                    let span = candidates.gather(left_side, left);
                    last_left = Some((left, span));
                    span
                }
            };
            let [right_start, right_end] = match rights.iter().find(|r| r.0 == right) {
                Some(&(_, span)) => span,
                None => {
                    let span = candidates.gather(right_side, right);
                    rights.push((right, span));
                    span
                }
            };
            candidates
                .spans
                .push([left_start, left_end, right_start, right_end]);
        }
        for id in &fired {
            self.contexts[*id as usize].hits += 1;
        }
        self.new_context = None;
        (fired, selected, candidates)
    }

    /// What orders fired contexts by strength: hits, then age of halves.
    pub(super) fn rank(&self, id: u32) -> (u64, u32, u32) {
        let c = &self.contexts[id as usize];
        (c.hits, c.left, c.right)
    }

    /// Semi-contexts and contexts held (for tests and measurements).
    #[cfg(test)]
    pub(super) fn sizes(&self) -> (usize, usize, usize) {
        (
            self.sides[LEFT].len(),
            self.sides[RIGHT].len(),
            self.contexts.len(),
        )
    }
}

/// Candidates for new contexts: (left facts, right facts), the facts of all
/// of them in one buffer.
#[derive(Debug, Default)]
pub(super) struct Candidates {
    facts: Facts,
    /// Where each candidate's left facts start and end, and its right
    /// facts (candidates that share a half share its span).
    spans: Vec<[usize; 4]>,
}

impl Candidates {
    /// Appends the facts of `side`'s semi-context `id` that its last
    /// crossing matched; returns where they lie.
    fn gather(&mut self, side: &Side, id: u32) -> [usize; 2] {
        let start = self.facts.len();
        side.push_matched_facts(id, &mut self.facts);
        [start, self.facts.len()]
    }

    pub(super) fn len(&self) -> usize {
        self.spans.len()
    }

    fn pair(&self, [left_start, left_end, right_start, right_end]: [usize; 4]) -> (&[u32], &[u32]) {
        (
            &self.facts[left_start..left_end],
            &self.facts[right_start..right_end],
        )
    }

    /// Sorted by (left facts, right facts), each pair once.
    pub(super) fn sort_dedup(&mut self) {
        let mut spans = std::mem::take(&mut self.spans);
        spans.sort_unstable_by(|a, b| self.pair(*a).cmp(&self.pair(*b)));
        spans.dedup_by(|a, b| self.pair(*a) == self.pair(*b));
        self.spans = spans;
    }

    /// Whether (left, right) is one of them (after [`Candidates::sort_dedup`]).
    pub(super) fn contains(&self, left: &[u32], right: &[u32]) -> bool {
        self.spans
            .binary_search_by(|span| self.pair(*span).cmp(&(left, right)))
            .is_ok()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u32], &[u32])> {
        self.spans.iter().map(|span| self.pair(*span))
    }
}

/// A context as read: a tuple `(hits, zero_level, left, right)` in format
/// 2, a map of the same fields in format 1. (Read by its own visitor: an
/// untagged enum buffers every context first, which made reading a large
/// fleet's state several times slower.)
struct ContextFile {
    hits: u64,
    zero_level: bool,
    left: u32,
    right: u32,
}

impl<'de> serde::Deserialize<'de> for ContextFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ContextVisitor)
    }
}

struct ContextVisitor;

impl<'de> serde::de::Visitor<'de> for ContextVisitor {
    type Value = ContextFile;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a context: (hits, zero_level, left, right)")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ContextFile, A::Error> {
        let short = |i| serde::de::Error::invalid_length(i, &self);
        Ok(ContextFile {
            hits: seq.next_element()?.ok_or_else(|| short(0))?,
            zero_level: seq.next_element()?.ok_or_else(|| short(1))?,
            left: seq.next_element()?.ok_or_else(|| short(2))?,
            right: seq.next_element()?.ok_or_else(|| short(3))?,
        })
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ContextFile, A::Error> {
        let (mut hits, mut zero_level, mut left, mut right) = (None, None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "hits" => hits = Some(map.next_value()?),
                "zero_level" => zero_level = Some(map.next_value()?),
                "left" => left = Some(map.next_value()?),
                "right" => right = Some(map.next_value()?),
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        let missing = serde::de::Error::missing_field;
        Ok(ContextFile {
            hits: hits.ok_or_else(|| missing("hits"))?,
            zero_level: zero_level.ok_or_else(|| missing("zero_level"))?,
            left: left.ok_or_else(|| missing("left"))?,
            right: right.ok_or_else(|| missing("right"))?,
        })
    }
}

/// One side as saved: its facts and where each semi-context's start.
#[derive(serde::Serialize, serde::Deserialize)]
struct SideFile<F, S> {
    facts: F,
    starts: S,
}

/// The memory as saved. Format 2 writes `sides`; format 1 wrote
/// `semi_ids` (facts → id per side) with the indexes, which are skipped.
#[derive(serde::Deserialize)]
pub(super) struct MemoryFile {
    #[serde(default)]
    sides: Option<[SideFile<Vec<u32>, Vec<u32>>; 2]>,
    #[serde(default)]
    semi_ids: Option<[HashMap<Facts, u32>; 2]>,
    contexts: Vec<ContextFile>,
    new_context: Option<u32>,
}

impl serde::Serialize for Memory {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Contexts<'a>(&'a [Context]);
        impl serde::Serialize for Contexts<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                // As tuples: names on every context would be most of the file
                // (a struct reads from a map, format 1, or a tuple alike).
                serializer.collect_seq(
                    self.0
                        .iter()
                        .map(|c| (c.hits, c.zero_level, c.left, c.right)),
                )
            }
        }
        fn side(s: &Side) -> SideFile<&[u32], &[u32]> {
            SideFile {
                facts: &s.facts,
                starts: &s.starts,
            }
        }
        let mut file = serializer.serialize_struct("MemoryFile", 3)?;
        file.serialize_field(
            "sides",
            &[side(&self.sides[LEFT]), side(&self.sides[RIGHT])],
        )?;
        file.serialize_field("contexts", &Contexts(&self.contexts))?;
        file.serialize_field("new_context", &self.new_context)?;
        file.end()
    }
}

impl MemoryFile {
    /// The memory, its indexes rebuilt. The left side's crossing is not
    /// saved: the caller crosses it again with the facts it was crossed
    /// with. An id out of range is an error (a damaged file).
    pub(super) fn into_memory(self) -> Result<Memory, String> {
        let mut memory = Memory::default();
        let mut add = |side: usize, id: usize, facts: &[u32]| {
            if !facts.is_sorted_by(|a, b| a < b) {
                return Err(format!("semi-context {id}'s facts are not ascending"));
            }
            if memory.semi_id(side, facts) as usize != id {
                return Err(format!("semi-context {id} repeats an earlier one"));
            }
            Ok(())
        };
        match (self.sides, self.semi_ids) {
            (Some(sides), _) => {
                for (side, file) in sides.iter().enumerate() {
                    for id in 0..file.starts.len() {
                        let range = span_range(file.facts.len(), &file.starts, id);
                        add(side, id, file.facts.get(range).unwrap_or_default())?;
                    }
                }
            }
            (None, Some(semi_ids)) => {
                for (side, ids) in semi_ids.into_iter().enumerate() {
                    let mut by_id = vec![Facts::new(); ids.len()];
                    for (facts, id) in ids {
                        if let Some(slot) = by_id.get_mut(id as usize) {
                            *slot = facts;
                        }
                    }
                    for (id, facts) in by_id.iter().enumerate() {
                        add(side, id, facts)?;
                    }
                }
            }
            (None, None) => return Err("a context memory without semi-contexts".into()),
        }
        for c in self.contexts {
            let ContextFile {
                hits,
                zero_level,
                left,
                right,
            } = c;
            let sizes = (memory.sides[LEFT].len(), memory.sides[RIGHT].len());
            if left as usize >= sizes.0 || right as usize >= sizes.1 {
                return Err(format!(
                    "context ({left}, {right}) names a semi-context past {sizes:?}"
                ));
            }
            let id = memory.push_context(left, right, zero_level);
            memory.contexts[id as usize].hits = hits;
        }
        memory.new_context = self
            .new_context
            .filter(|id| (*id as usize) < memory.contexts.len());
        Ok(memory)
    }
}

/// FxHash's step for ids and facts (small integers, not from strangers:
/// no need for a keyed hash), finished by MurmurHash3's mix so the table's
/// low and high bits both vary.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        mix(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = step(self.0, u64::from(*b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = step(self.0, u64::from(n));
    }
}

fn step(hash: u64, word: u64) -> u64 {
    (hash.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95)
}

fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn hash_facts(facts: &[u32]) -> u64 {
    mix(facts
        .iter()
        .fold(facts.len() as u64, |h, f| step(h, u64::from(*f))))
}

fn hash_pair(left: u32, right: u32) -> u64 {
    mix((u64::from(left) << 32) | u64::from(right))
}
