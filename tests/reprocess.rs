//! `verbatim reprocess`: files of verbatims through the pipeline into JSONL, resumable after a
//! kill with every line written exactly once.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{cli, data_dir, BIN};
use serde_json::{json, Value};

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// `n` verbatims, French and English, some without a language; every 97th is invalid.
fn write_input(path: &Path, n: usize) -> usize {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut valid = 0;
    for i in 0..n {
        if i % 97 == 96 {
            writeln!(out, "{}", json!({"id": format!("v{i}"), "text": "", "channel": "app"})).unwrap();
            continue;
        }
        let text = if i % 2 == 0 {
            format!("La livraison numéro {i} est arrivée en retard, très déçu.")
        } else {
            format!("Order {i} arrived quickly, great service!")
        };
        writeln!(out, "{}", json!({"id": format!("v{i}"), "text": text, "channel": "email", "nps": i % 11})).unwrap();
        valid += 1;
    }
    valid
}

#[test]
fn csv_and_gzip_inputs_give_one_line_per_valid_record_and_an_error_file() {
    let (guard, data) = data_dir();
    let csv = guard.path().join("in.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&csv).unwrap(), flate2::Compression::fast());
    gz.write_all(
        "id,text,language,nps,store\n\
         c1,\"Livraison en retard, colis abîmé, très déçu\",fr,2,Lyon\n\
         c2,,fr,5,Paris\n\
         c3,Great staff and quick refund,,9,Lille\n\
         c4,Pas mal,fr,eleven,Nantes\n"
            .as_bytes(),
    )
    .unwrap();
    gz.finish().unwrap();
    let output = guard.path().join("out.jsonl");
    let (code, stdout, stderr) =
        cli(&data, &["reprocess", "--input", csv.to_str().unwrap(), "--output", output.to_str().unwrap()], None);
    assert_eq!(code, 2, "rejected records exit 2: {stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!((report["written"].as_u64(), report["rejected"].as_u64()), (Some(2), Some(2)));
    let results = jsonl(&output);
    let ids: Vec<&str> = results.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["c1", "c3"]);
    assert_eq!(results[0]["sentiment"]["label"], "negative");
    assert_eq!(results[1]["language"], "en", "detected when not given");
    assert_eq!(results[1]["sentiment"]["label"], "positive");
    let errors = jsonl(&guard.path().join("out.jsonl.errors.jsonl"));
    let lines: Vec<(u64, &str)> =
        errors.iter().map(|e| (e["line"].as_u64().unwrap(), e["code"].as_str().unwrap())).collect();
    assert_eq!(lines, [(3, "missing_field"), (5, "invalid_score")]);
    assert!(!data.join("jobs").read_dir().unwrap().any(|_| true), "a finished job leaves no checkpoint");
}

/// SIGKILL mid-job, a torn line appended as a crash mid-write would leave, then the same
/// command: the output is byte for byte the uninterrupted run's.
#[test]
fn a_killed_reprocess_resumes_and_writes_every_line_once() {
    let (guard, data) = data_dir();
    let input = guard.path().join("in.jsonl");
    let valid = write_input(&input, 60_000);
    let args = |output: &Path| -> Vec<String> {
        ["--data", data.to_str().unwrap(), "reprocess", "--input", input.to_str().unwrap(), "--output"]
            .iter()
            .map(|s| s.to_string())
            .chain([output.to_str().unwrap().to_string()])
            .collect()
    };

    let reference = guard.path().join("reference.jsonl");
    let (code, _, stderr) = cli(&data, &args(&reference)[2..].iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert_eq!(code, 2, "{stderr}");

    let output = guard.path().join("out.jsonl");
    let mut child = Command::new(BIN).args(args(&output)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    let checkpoints = data.join("jobs");
    // Kill once a batch is checkpointed and the next one is under way, whatever the speed. The
    // checkpoint is the `.json` file: the lock and a checkpoint being written do not count.
    let checkpointed = || {
        checkpoints.read_dir().is_ok_and(|entries| {
            entries.flatten().any(|entry| entry.path().extension().is_some_and(|extension| extension == "json"))
        })
    };
    let output_bytes = || std::fs::metadata(&output).map_or(0, |m| m.len());
    let mut wait_until = |done: &dyn Fn() -> bool| {
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(120), "no progress");
            assert!(child.try_wait().unwrap().is_none(), "finished before the kill: make the input larger");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_until(&checkpointed);
    let checkpointed_bytes = output_bytes();
    wait_until(&|| output_bytes() > checkpointed_bytes);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(checkpointed(), "the kill left a checkpoint");
    std::fs::OpenOptions::new().append(true).open(&output).unwrap().write_all(b"{\"id\":\"v12").unwrap();

    let (code, stdout, stderr) = cli(&data, &args(&output)[2..].iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert_eq!(code, 2, "{stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(report["resumed_after_line"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["written"], valid as u64);

    let results = jsonl(&output);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for result in &results {
        *seen.entry(result["id"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(results.len(), valid);
    assert!(seen.values().all(|&n| n == 1), "an id written twice");
    assert_eq!(
        std::fs::read(&output).unwrap(),
        std::fs::read(&reference).unwrap(),
        "same bytes as the uninterrupted run"
    );
    assert_eq!(
        std::fs::read(guard.path().join("out.jsonl.errors.jsonl")).unwrap(),
        std::fs::read(guard.path().join("reference.jsonl.errors.jsonl")).unwrap()
    );
}

/// Parallelism changes the speed, never the answer: one thread and all threads write the same bytes.
#[test]
fn one_thread_and_all_threads_write_the_same_output() {
    let (guard, data) = data_dir();
    let input = guard.path().join("in.jsonl");
    write_input(&input, 5_000);
    let run = |output: &Path, threads: Option<&str>| {
        let mut command = Command::new(BIN);
        command.args(["--data", data.to_str().unwrap(), "reprocess", "--input", input.to_str().unwrap(), "--output"]);
        command.arg(output).stdout(Stdio::null()).stderr(Stdio::null());
        if let Some(threads) = threads {
            command.env("RAYON_NUM_THREADS", threads);
        }
        assert_eq!(command.status().unwrap().code(), Some(2));
    };
    let (one, all) = (guard.path().join("one.jsonl"), guard.path().join("all.jsonl"));
    run(&one, Some("1"));
    run(&all, None);
    assert_eq!(jsonl(&one).len(), 5_000 - 5_000 / 97);
    assert_eq!(std::fs::read(&one).unwrap(), std::fs::read(&all).unwrap());
}

/// An output named `*.parquet` holds, row for row, what the JSONL output holds.
#[test]
fn a_parquet_output_holds_every_analysis() {
    let (guard, data) = data_dir();
    let input = guard.path().join("in.jsonl");
    let valid = write_input(&input, 3_000);
    let run = |output: &Path| {
        let (code, stdout, stderr) =
            cli(&data, &["reprocess", "--input", input.to_str().unwrap(), "--output", output.to_str().unwrap()], None);
        assert_eq!(code, 2, "the input has bad lines: {stderr}");
        assert!(stdout.contains(&format!("\"written\":{valid}")), "{stdout}");
    };
    let (parquet_path, jsonl_path) = (guard.path().join("out.parquet"), guard.path().join("out.jsonl"));
    run(&parquet_path);
    run(&jsonl_path);
    assert!(!guard.path().join("out.parquet.partial.jsonl").exists(), "the work file is removed");
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let reader = SerializedFileReader::new(std::fs::File::open(&parquet_path).unwrap()).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows() as usize, valid);
    let expected = jsonl(&jsonl_path);
    for (row, expected) in reader.get_row_iter(None).unwrap().map(Result::unwrap).zip(&expected) {
        let fields: HashMap<String, Field> = row.get_column_iter().map(|(n, f)| (n.clone(), f.clone())).collect();
        let text = |name: &str| match &fields[name] {
            Field::Str(text) => text.clone(),
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(text("id"), expected["id"].as_str().unwrap());
        assert_eq!(text("language"), expected["language"].as_str().unwrap());
        assert_eq!(text("sentiment"), expected["sentiment"]["label"].as_str().unwrap());
        let Field::Double(score) = fields["sentiment_score"] else { panic!("{:?}", fields["sentiment_score"]) };
        assert!((score - expected["sentiment"]["score"].as_f64().unwrap()).abs() < 1e-6);
        for column in ["sentences", "aspects", "causes", "key_phrases"] {
            assert_eq!(serde_json::from_str::<Value>(&text(column)).unwrap(), expected[column], "{column}");
        }
        assert_eq!(fields["customer_id"], Field::Null);
    }
}
