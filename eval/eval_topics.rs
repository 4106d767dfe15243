//! Scores topic discovery against gold classes (NMI, outlier share, topics found, fit time).
//!
//! ```sh
//! cargo run --release --features training --bin eval-topics -- --data ../shared/data --models verbatim-data/models
//! ```
//!
//! Embeddings are computed once per set with multilingual-e5-small and kept under `--cache`
//! (the encoder's speed is benches/, not this), so methods can be compared on the same vectors.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use verbatim::topics::saved::words_stand_in;
use verbatim::topics::{
    discover, sample, vectors_for_discovery, DiscoverySettings, HashedTfIdf, Method, Outliers, Previous, TopicInput,
    VectorSpace, TOPIC_ENCODER,
};
use verbatim::training::topic_sets::{banking77, newsgroups, TopicExample};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    #[arg(long, env = "VERBATIM_MODELS", default_value = "verbatim-data/models")]
    models: PathBuf,
    /// Where computed embeddings are kept between runs
    #[arg(long, default_value = "target/topics-cache")]
    cache: PathBuf,
    /// Sets to score: banking77, 20ng
    #[arg(long, value_delimiter = ',', default_value = "banking77,20ng")]
    sets: Vec<String>,
    /// Score a seeded sample of this many texts of each set (long 20 Newsgroups posts take
    /// the encoder about a tenth of a second each on two cores)
    #[arg(long)]
    limit: Option<usize>,
    /// Instead of scores, time one discovery over this many verbatims: the set's texts over
    /// and over, each copy's vector moved by seeded noise (the speed benchmark of
    /// benches/topics_speed.sh: embeddings given, their time apart)
    #[arg(long)]
    speed: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    verbatim::engine::keep_freed_buffers();
    for set in &args.sets {
        let examples = match set.as_str() {
            "banking77" => banking77(&args.data)?,
            "20ng" => newsgroups(&args.data)?,
            other => anyhow::bail!("unknown set {other}"),
        };
        let examples: Vec<TopicExample> = match args.limit {
            Some(limit) if limit < examples.len() => {
                sample(examples.len(), limit, 5).into_iter().map(|i| examples[i].clone()).collect()
            }
            _ => examples,
        };
        let vectors = embeddings(&args.models, set, &examples, &args.cache)?;
        if let Some(count) = args.speed {
            speed(&examples, &vectors, count)?;
            continue;
        }
        println!("\n### {set}: {} texts, {} gold classes\n", examples.len(), distinct(&classes(&examples)));
        println!("| texts | vectors | method | topics given | topics found | outliers | NMI | fit s |");
        println!("|---|---|---|---|---|---|---|---|");
        let mut subsets = vec![("all".to_string(), (0..examples.len()).collect::<Vec<usize>>())];
        if set == "banking77" {
            // The size of BANKING77's sealed test split, drawn from train.
            subsets.push(("3,080 drawn".to_string(), sample(examples.len(), 3_080, 7)));
        }
        for (subset, rows) in &subsets {
            let examples: Vec<&TopicExample> = rows.iter().map(|&i| &examples[i]).collect();
            let vectors: Vec<Vec<f32>> = rows.iter().map(|&i| vectors[i].clone()).collect();
            let gold = classes(&examples.iter().map(|e| (*e).clone()).collect::<Vec<_>>());
            let runs: Vec<(&str, Method, Option<usize>, Outliers)> = vec![
                ("encoder", Method::Leiden, None, Outliers::Nearest),
                ("encoder", Method::Leiden, None, Outliers::Strict),
                ("encoder", Method::KMeans, None, Outliers::Nearest),
                ("encoder", Method::KMeans, Some(distinct(&gold)), Outliers::Nearest),
                ("encoder", Method::Hdbscan, None, Outliers::Nearest),
                ("hashed", Method::Leiden, None, Outliers::Nearest),
            ];
            for (space_name, method, topics, outliers) in runs {
                let settings = DiscoverySettings { topics, method, outliers, ..DiscoverySettings::default() };
                let started = Instant::now();
                let (space, vectors) = match space_name {
                    "encoder" => (VectorSpace::Encoder { model: "multilingual-e5-small".into() }, vectors.clone()),
                    _ => {
                        let texts: Vec<(&str, Option<&str>)> =
                            examples.iter().map(|e| (e.text.as_str(), Some("en"))).collect();
                        let model = HashedTfIdf::fit(&texts);
                        let vectors = model.vectors(&texts);
                        (VectorSpace::Hashed(model), vectors)
                    }
                };
                let inputs: Vec<TopicInput<'_>> =
                    examples.iter().map(|e| TopicInput { text: &e.text, language: Some("en") }).collect();
                let found = discover(&inputs, &vectors, space, &settings, None)?;
                let seconds = started.elapsed().as_secs_f64();
                let predicted: Vec<i64> = found.assignments.iter().map(|a| a.map_or(-1, |a| a.topic_id)).collect();
                let outliers = predicted.iter().filter(|p| **p == -1).count() as f64 / predicted.len() as f64;
                println!(
                    "| {subset} | {space_name} | {method:?} {outliers_mode:?} | {given} | {found} | {:.1} % | {:.3} | {seconds:.1} |",
                    100.0 * outliers,
                    nmi(&gold, &predicted),
                    outliers_mode = settings.outliers,
                    given = topics.map_or("auto".to_string(), |t| t.to_string()),
                    found = found.model.topics.len(),
                );
            }
        }
        if set == "banking77" {
            stability(set, &examples, &vectors)?;
            ingestion(set, &examples, &vectors)?;
        }
    }
    Ok(())
}

/// One default discovery over `count` verbatims made from `examples`, timed.
fn speed(examples: &[TopicExample], vectors: &[Vec<f32>], count: usize) -> anyhow::Result<()> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let rows: Vec<usize> = (0..count).map(|i| i % examples.len()).collect();
    let inputs: Vec<TopicInput<'_>> =
        rows.iter().map(|&i| TopicInput { text: &examples[i].text, language: Some("en") }).collect();
    let jittered: Vec<Vec<f32>> = rows
        .iter()
        .map(|&i| {
            let mut v: Vec<f32> = vectors[i].iter().map(|x| x + rng.random_range(-0.02..0.02)).collect();
            verbatim::topics::normalize(&mut v);
            v
        })
        .collect();
    let started = Instant::now();
    let space = VectorSpace::Encoder { model: TOPIC_ENCODER.into() };
    let found = discover(&inputs, &jittered, space, &DiscoverySettings::default(), None)?;
    let outliers = found.assignments.iter().filter(|a| a.is_none()).count();
    println!(
        "discovery over {count} verbatims (embeddings given): {:.1} s, {} topics, {outliers} outliers",
        started.elapsed().as_secs_f64(),
        found.model.topics.len()
    );
    Ok(())
}

/// Two discoveries with other seeds, and a re-discovery after adding a tenth more verbatims to
/// the first nine tenths: how much stays the same.
fn stability(set: &str, examples: &[TopicExample], vectors: &[Vec<f32>]) -> anyhow::Result<()> {
    let inputs: Vec<TopicInput<'_>> =
        examples.iter().map(|e| TopicInput { text: &e.text, language: Some("en") }).collect();
    let space = || VectorSpace::Encoder { model: "multilingual-e5-small".into() };
    let ids = |found: &verbatim::topics::Discovery| -> Vec<i64> {
        found.assignments.iter().map(|a| a.map_or(-1, |a| a.topic_id)).collect()
    };
    let seeded = |seed| DiscoverySettings { seed, ..DiscoverySettings::default() };
    let first = discover(&inputs, vectors, space(), &seeded(42), None)?;
    let second = discover(&inputs, vectors, space(), &seeded(7), None)?;
    let old = sample(inputs.len(), inputs.len() * 9 / 10, 11);
    let old_inputs: Vec<TopicInput<'_>> = old.iter().map(|&i| inputs[i]).collect();
    let old_vectors: Vec<Vec<f32>> = old.iter().map(|&i| vectors[i].clone()).collect();
    let before = discover(&old_inputs, &old_vectors, space(), &seeded(42), None)?;
    let mut known = vec![None; inputs.len()];
    for (&i, id) in old.iter().zip(ids(&before)) {
        known[i] = (id >= 0).then_some(id);
    }
    let after = discover(
        &inputs,
        vectors,
        space(),
        &seeded(42),
        Some(Previous { model: &before.model, topic_ids: &known, pinned: &[] }),
    )?;
    let after_ids = ids(&after);
    // Of the verbatims that had a topic, those that have the same one.
    let had: Vec<(usize, i64)> = old.iter().copied().zip(ids(&before)).filter(|(_, id)| *id >= 0).collect();
    let kept = had.iter().filter(|(i, id)| after_ids[*i] == *id).count();
    println!(
        "\n{set}, stability: seeds 42 and 7 agree at NMI {:.3}; after adding {} verbatims to {}, {:.1} % of the {} of these that had a topic keep its id ({} topics before, {} after)",
        nmi(&ids(&first), &ids(&second)),
        inputs.len() - old.len(),
        old.len(),
        100.0 * kept as f64 / had.len() as f64,
        had.len(),
        before.model.topics.len(),
        after.model.topics.len(),
    );
    Ok(())
}

/// What ingestion gives verbatims a model did not see: a discovery over nine tenths, then the
/// last tenth assigned as the service does, by the encoder (the `assign_topics` job) and by
/// words (the stand-in ingestion uses when the model is the encoder's): how often the two
/// agree, and each one's NMI against the gold classes.
fn ingestion(set: &str, examples: &[TopicExample], vectors: &[Vec<f32>]) -> anyhow::Result<()> {
    let inputs: Vec<TopicInput<'_>> =
        examples.iter().map(|e| TopicInput { text: &e.text, language: Some("en") }).collect();
    let seen = sample(inputs.len(), inputs.len() * 9 / 10, 11);
    let is_seen: std::collections::HashSet<usize> = seen.iter().copied().collect();
    let unseen: Vec<usize> = (0..inputs.len()).filter(|i| !is_seen.contains(i)).collect();
    let seen_inputs: Vec<TopicInput<'_>> = seen.iter().map(|&i| inputs[i]).collect();
    let seen_vectors: Vec<Vec<f32>> = seen.iter().map(|&i| vectors[i].clone()).collect();
    let space = VectorSpace::Encoder { model: TOPIC_ENCODER.into() };
    let settings = DiscoverySettings::default();
    let found = discover(&seen_inputs, &seen_vectors, space, &settings, None)?;
    let words = words_stand_in(&found.model, &seen_inputs, &found.assignments, settings.outliers.floor_quantile());
    let VectorSpace::Hashed(tfidf) = &words.space else { anyhow::bail!("the stand-in is hashed") };
    let texts: Vec<(&str, Option<&str>)> = unseen.iter().map(|&i| (inputs[i].text, inputs[i].language)).collect();
    let started = Instant::now();
    let by_words: Vec<i64> = tfidf.vectors(&texts).iter().map(|v| words.assign(v).map_or(-1, |a| a.topic_id)).collect();
    let words_seconds = started.elapsed().as_secs_f64();
    let by_encoder: Vec<i64> =
        unseen.iter().map(|&i| found.model.assign(&vectors[i]).map_or(-1, |a| a.topic_id)).collect();
    let gold: Vec<i64> = {
        let all = classes(examples);
        unseen.iter().map(|&i| all[i]).collect()
    };
    let agree = by_words.iter().zip(&by_encoder).filter(|(w, e)| w == e).count();
    let none = |ids: &[i64]| 100.0 * ids.iter().filter(|id| **id == -1).count() as f64 / ids.len() as f64;
    println!(
        "
{set}, ingestion: discovery over {} verbatims, the other {} assigned; by words and by the encoder agree on {:.1} %; NMI against the classes: words {:.3} ({:.1} % without a topic, {:.0} µs a verbatim on one thread), encoder {:.3} ({:.1} % without a topic)",
        seen.len(),
        unseen.len(),
        100.0 * agree as f64 / unseen.len() as f64,
        nmi(&gold, &by_words),
        none(&by_words),
        1e6 * words_seconds / unseen.len() as f64,
        nmi(&gold, &by_encoder),
        none(&by_encoder),
    );
    Ok(())
}

/// Each example's gold class as a number.
fn classes(examples: &[TopicExample]) -> Vec<i64> {
    let mut ids = std::collections::HashMap::new();
    examples
        .iter()
        .map(|e| {
            let next = ids.len() as i64;
            *ids.entry(e.class.clone()).or_insert(next)
        })
        .collect()
}

fn distinct(classes: &[i64]) -> usize {
    classes.iter().collect::<std::collections::HashSet<_>>().len()
}

/// Normalised mutual information (arithmetic mean of the entropies, as scikit-learn's
/// default), outliers counted as one more cluster, as BERTopic's figures do.
fn nmi(a: &[i64], b: &[i64]) -> f64 {
    use std::collections::HashMap;
    let n = a.len() as f64;
    let mut joint: HashMap<(i64, i64), f64> = HashMap::new();
    let mut left: HashMap<i64, f64> = HashMap::new();
    let mut right: HashMap<i64, f64> = HashMap::new();
    for (x, y) in a.iter().zip(b) {
        *joint.entry((*x, *y)).or_default() += 1.0;
        *left.entry(*x).or_default() += 1.0;
        *right.entry(*y).or_default() += 1.0;
    }
    let entropy = |counts: &HashMap<i64, f64>| -> f64 { counts.values().map(|c| -(c / n) * (c / n).ln()).sum() };
    let mutual: f64 = joint.iter().map(|((x, y), c)| (c / n) * ((c * n) / (left[x] * right[y])).ln()).sum();
    let (h1, h2) = (entropy(&left), entropy(&right));
    if h1 + h2 == 0.0 {
        1.0
    } else {
        2.0 * mutual / (h1 + h2)
    }
}

/// The texts' embeddings, from the cache when the same texts were embedded before.
fn embeddings(models: &Path, set: &str, examples: &[TopicExample], cache: &Path) -> anyhow::Result<Vec<Vec<f32>>> {
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let key = verbatim::models::sha256_hex(texts.join("\u{0}").as_bytes());
    let path = cache.join(format!("{set}-{}.f32", &key[..12]));
    if let Ok(bytes) = std::fs::read(&path) {
        let floats: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if !texts.is_empty() && floats.len().is_multiple_of(texts.len()) {
            return Ok(floats.chunks(floats.len() / texts.len()).map(<[f32]>::to_vec).collect());
        }
    }
    let started = Instant::now();
    let progress = indicatif::ProgressBar::new(texts.len() as u64);
    let inputs: Vec<TopicInput<'_>> = texts.iter().map(|text| TopicInput { text, language: Some("en") }).collect();
    let (space, vectors) = vectors_for_discovery(models, &inputs, None, &mut |done| {
        progress.set_position(done as u64);
        true
    })?;
    anyhow::ensure!(
        matches!(space, VectorSpace::Encoder { .. }),
        "{TOPIC_ENCODER} is not installed in {}",
        models.display()
    );
    progress.finish_and_clear();
    eprintln!("{set}: embedded {} texts in {:.1} s", texts.len(), started.elapsed().as_secs_f64());
    std::fs::create_dir_all(cache)?;
    let bytes: Vec<u8> = vectors.iter().flatten().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(vectors)
}
