//! Dense layers in 8-bit integers, on CPUs with AVX-512 VNNI: weights quantised once at load
//! (symmetric, per output channel), activations at each call (asymmetric, per token: a GELU
//! output spans [-0.17, max], and a symmetric range would waste half its 256 steps); one
//! `vpdpbusd` multiplies and adds 64 byte pairs where an f32 FMA does 16 pairs. Elsewhere the
//! f32 layers run unchanged.

use rayon::prelude::*;

/// Bytes a row is padded to: one 512-bit register of `u8`.
const LANE: usize = 64;
/// Rows (tokens) per parallel task.
const ROWS_PER_TASK: usize = 16;

/// `y = x Wᵀ + b` with `W` in `i8`, one scale per output channel.
pub struct Int8Dense {
    outputs: usize,
    inputs: usize,
    /// `inputs` rounded up to [`LANE`]; the padding holds zeros.
    padded: usize,
    /// `outputs × padded`, row-major.
    weights: Vec<i8>,
    scales: Vec<f32>,
    /// The sum of each quantised row: times a token's zero point, what that offset adds.
    sums: Vec<i32>,
    bias: Vec<f32>,
}

/// Tokens' activations in `u8`: `x ≈ scale × (q − zero)`, one scale and zero point a token.
struct Quantised {
    values: Vec<u8>,
    scales: Vec<f32>,
    zeros: Vec<i32>,
}

impl Int8Dense {
    /// Whether this CPU runs the kernel (checked at run time: the binary runs anywhere).
    pub fn supported() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Quantises `weight` (`outputs × inputs`, row-major) symmetrically per output channel;
    /// `None` where the CPU cannot run the kernel, so that a layer that exists can run.
    pub fn new(weight: &[f32], bias: Vec<f32>, outputs: usize, inputs: usize) -> Option<Int8Dense> {
        if !Self::supported() {
            return None;
        }
        let padded = inputs.div_ceil(LANE) * LANE;
        let mut weights = vec![0i8; outputs * padded];
        let mut scales = Vec::with_capacity(outputs);
        let mut sums = Vec::with_capacity(outputs);
        for (row, out) in weight.chunks_exact(inputs).zip(weights.chunks_exact_mut(padded)) {
            let scale = row.iter().fold(0f32, |m, w| m.max(w.abs())).max(f32::MIN_POSITIVE) / 127.0;
            let mut sum = 0i32;
            for (w, q) in row.iter().zip(out.iter_mut()) {
                *q = (w / scale).round().clamp(-127.0, 127.0) as i8;
                sum += i32::from(*q);
            }
            scales.push(scale);
            sums.push(sum);
        }
        Some(Int8Dense { outputs, inputs, padded, weights, scales, sums, bias })
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// `x` is `rows × inputs`, row-major; returns `rows × outputs`.
    pub fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut y = vec![0f32; rows * self.outputs];
        y.par_chunks_mut(ROWS_PER_TASK * self.outputs).zip(x.par_chunks(ROWS_PER_TASK * self.inputs)).for_each(
            |(y, x)| {
                let quantised = self.quantise_rows(x);
                // SAFETY: `new` built this layer only where `supported()` holds.
                unsafe { self.kernel(&quantised, y) };
            },
        );
        y
    }

    /// Each row to `u8` over its own range [min, max], which always holds 0, so that the
    /// padding, at the zero point, adds nothing.
    fn quantise_rows(&self, x: &[f32]) -> Quantised {
        let rows = x.len() / self.inputs;
        let mut values = vec![0u8; rows * self.padded];
        let (mut scales, mut zeros) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        for (row, out) in x.chunks_exact(self.inputs).zip(values.chunks_exact_mut(self.padded)) {
            let (low, high) = row.iter().fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let scale = (high - low).max(f32::MIN_POSITIVE) / 255.0;
            let zero = (-low / scale).round().clamp(0.0, 255.0);
            let inverse = 1.0 / scale;
            for (v, q) in row.iter().zip(out.iter_mut()) {
                *q = (v * inverse + zero).round().clamp(0.0, 255.0) as u8;
            }
            out[self.inputs..].fill(zero as u8);
            scales.push(scale);
            zeros.push(zero as i32);
        }
        Quantised { values, scales, zeros }
    }

    /// Blocks of 4 tokens × 4 outputs: each weight register serves 4 tokens and each
    /// activation register 4 outputs, 16 accumulators in flight.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn kernel(&self, quantised: &Quantised, y: &mut [f32]) {
        use std::arch::x86_64::*;
        let x = &quantised.values;
        let rows = quantised.scales.len();
        let lanes = self.padded / LANE;
        let mut i = 0;
        while i < rows {
            let block = (rows - i).min(4);
            let mut j = 0;
            while j < self.outputs {
                let cols = (self.outputs - j).min(4);
                let mut acc = [[_mm512_setzero_si512(); 4]; 4];
                for lane in 0..lanes {
                    let mut w = [_mm512_setzero_si512(); 4];
                    for (c, register) in w.iter_mut().enumerate().take(cols) {
                        let at = (j + c) * self.padded + lane * LANE;
                        *register = _mm512_loadu_si512(self.weights.as_ptr().add(at) as *const _);
                    }
                    for (r, row) in acc.iter_mut().enumerate().take(block) {
                        let a = _mm512_loadu_si512(x.as_ptr().add((i + r) * self.padded + lane * LANE) as *const _);
                        for (sum, register) in row.iter_mut().zip(&w).take(cols) {
                            *sum = _mm512_dpbusd_epi32(*sum, a, *register);
                        }
                    }
                }
                for (r, row) in acc.iter().enumerate().take(block) {
                    for (c, sum) in row.iter().enumerate().take(cols) {
                        let dot = _mm512_reduce_add_epi32(*sum) - quantised.zeros[i + r] * self.sums[j + c];
                        y[(i + r) * self.outputs + j + c] =
                            dot as f32 * quantised.scales[i + r] * self.scales[j + c] + self.bias[j + c];
                    }
                }
                j += cols;
            }
            i += block;
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn kernel(&self, _quantised: &Quantised, _y: &mut [f32]) {
        unreachable!("Int8Dense::new builds a layer only where supported() holds")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_f32_product_within_quantisation_error() {
        let (rows, inputs, outputs) = (37, 100, 70);
        let value = |i: usize| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * (1.0 + (i % 13) as f32 / 4.0);
        // Rows of every sign: mixed, all positive, all negative (the zero point at each end).
        let x: Vec<f32> = (0..rows * inputs)
            .map(|i| match (i / inputs) % 3 {
                0 => value(i),
                1 => value(i).abs(),
                _ => -value(i).abs(),
            })
            .collect();
        let w: Vec<f32> = (0..outputs * inputs).map(|i| value(i + 17) / 10.0).collect();
        let bias: Vec<f32> = (0..outputs).map(|i| i as f32 / 100.0).collect();
        let Some(layer) = Int8Dense::new(&w, bias.clone(), outputs, inputs) else {
            eprintln!("no AVX-512 VNNI here: nothing to check");
            return;
        };
        let y = layer.forward(&x, rows);
        for r in 0..rows {
            for o in 0..outputs {
                let exact: f32 = (0..inputs).map(|k| x[r * inputs + k] * w[o * inputs + k]).sum::<f32>() + bias[o];
                let scale: f32 = (0..inputs).map(|k| (x[r * inputs + k] * w[o * inputs + k]).abs()).sum();
                let got = y[r * outputs + o];
                assert!((got - exact).abs() <= 0.02 * scale + 1e-4, "{r},{o}: {got} vs {exact}");
            }
        }
    }
}
