//! The CSV readers (wide and long) on any bytes: an error or a frame whose
//! columns all have one value per timestamp, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(load) = pulsewatch::data::parse_csv(data, "fuzz.csv") {
        let rows = load.frame.timestamps_ms().len();
        assert!(
            load.frame
                .columns()
                .iter()
                .all(|column| column.len() == rows)
        );
        assert!(load.frame.timestamps_ms().windows(2).all(|w| w[0] < w[1]));
    }
    let entity = ["instance".to_owned()];
    let _ = pulsewatch::data::parse_long_csv(data, "fuzz.csv", &entity);
});
