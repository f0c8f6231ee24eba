//! Every committed corpus file (`tests/fuzz/corpus/<target>/`), and every crash turned into a
//! regression case (`tests/fuzz/regressions/<target>/`), through its target on stable.

use std::path::PathBuf;

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    files
}

#[test]
fn every_corpus_file_passes_its_target() {
    for (target, run) in fuzz_targets::TARGETS {
        let corpus = inputs("corpus", target);
        assert!(
            !corpus.is_empty(),
            "tests/fuzz/corpus/{target}/ is empty: seed it (make fuzz writes it)"
        );
        for file in corpus.iter().chain(inputs("regressions", target).iter()) {
            let data = std::fs::read(file).expect("read a corpus file");
            run(&data);
        }
    }
}
