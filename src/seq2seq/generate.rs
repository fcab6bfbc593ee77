//! Generation from a language model `Embedding -> recurrent layers -> Linear`
//! (a char-RNN): the whole per-token loop in Rust.
//!
//! The weights are laid out once per call for mat-vecs (`Weight`: column
//! panels streamed in memory order), and the first layer's input side, the embedding followed
//! by `W_ih`, becomes a lookup table `(vocab_in, G*H)` with the folded
//! biases when the call draws at least as many tokens as the table has rows.
//! A step is then, per layer, one recurrent mat-vec (plus the input mat-vec
//! above the first layer), the cell's element-wise pass and the output
//! mat-vec; the token is drawn from the logits in float64.
//!
//! Sampling (the semantics of `rnnrs.reference.sampling`): `z = logits /
//! temperature`, restricted to the entries `>=` the `top_k`-th largest,
//! `p = exp(z - max z)`, running sums `c`; the token is the number of
//! `c_j <= u * c_last` (at most `V - 1`) for a uniform `u` in `[0, 1)` that
//! the caller supplies, one per draw, so that the random generator is the
//! caller's (NumPy's `default_rng` in Python). `temperature == 0` is the
//! arg-max and uses no uniform.

use crate::cell::{with_cell, Cell, StepIo};
use crate::error::{checked_size, try_zeros, Error, Result};
use crate::layer::{Mode, RnnSpec};
use crate::linalg::{gemm, mul_nt, vec_mul_nn, Op, Parallelism};
use crate::Float;

/// One recurrent module of the model: a (possibly stacked) unidirectional
/// layer with its parameters in torch's order.
pub struct Stack<'a, T> {
    pub spec: RnnSpec,
    pub params: Vec<&'a [T]>,
}

/// `Embedding -> stacks -> Linear` (row-major, torch's shapes).
pub struct LanguageModel<'a, T> {
    /// `(vocab_in, emb_dim)`.
    pub embedding: &'a [T],
    pub vocab_in: usize,
    pub emb_dim: usize,
    pub stacks: Vec<Stack<'a, T>>,
    /// `(vocab, features of the last stack)`.
    pub head_weight: &'a [T],
    pub head_bias: Option<&'a [T]>,
    pub vocab: usize,
}

/// The recurrent state of every stack: `h[s]` `(L, B, h_out)`, `c[s]`
/// `(L, B, H)` (empty for cells without one). Updated in place.
pub struct LmState<T> {
    pub h: Vec<Vec<T>>,
    pub c: Vec<Vec<T>>,
}

/// How a token is drawn from a row of logits (see the module doc).
#[derive(Clone, Copy, Debug)]
pub struct Sampler {
    temperature: f64,
    /// `vocab` when every token may be drawn.
    top_k: usize,
}

impl Sampler {
    /// `temperature >= 0` (finite); `top_k` in `1..=vocab` or None (all).
    pub fn new(temperature: f64, top_k: Option<usize>, vocab: usize) -> Result<Self> {
        if !temperature.is_finite() || temperature < 0.0 {
            return Err(Error::value("temperature", format!("expected a number >= 0, got {temperature}")));
        }
        let top_k = match top_k {
            None => vocab,
            Some(k) if (1..=vocab).contains(&k) => k,
            Some(k) => {
                return Err(Error::value("top_k", format!("expected None or an int in 1..{vocab}, got {k}")))
            }
        };
        Ok(Sampler { temperature, top_k })
    }

    /// Whether a draw uses a uniform (not the greedy arg-max).
    pub fn uses_uniforms(&self) -> bool {
        self.temperature != 0.0
    }

    /// The token drawn from `logits` (overwritten) with the uniform `u`;
    /// `scratch` is reused between calls.
    pub fn draw(&self, z: &mut [f64], u: f64, scratch: &mut Vec<f64>) -> usize {
        let v = z.len();
        if self.temperature == 0.0 {
            return argmax(z);
        }
        for x in z.iter_mut() {
            *x /= self.temperature;
        }
        if self.top_k < v {
            scratch.clear();
            scratch.extend_from_slice(z);
            // The k-th largest (as `np.partition(z, -k)[-k]`).
            let (_, cut, _) = scratch.select_nth_unstable_by(v - self.top_k, |a, b| a.total_cmp(b));
            let cut = *cut;
            for x in z.iter_mut() {
                if *x < cut {
                    *x = f64::NEG_INFINITY;
                }
            }
        }
        let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for x in z.iter_mut() {
            sum += (*x - max).exp();
            *x = sum;
        }
        let target = u * sum;
        // `searchsorted(c, target, side="right")` on the running sums.
        z.partition_point(|&c| c <= target).min(v - 1)
    }
}

/// The first index of the largest value (a NaN counts as largest, as `np.argmax`).
fn argmax(z: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in z.iter().enumerate() {
        if x.is_nan() {
            return i;
        }
        if x > z[best] {
            best = i;
        }
    }
    best
}

/// A weight `W` `(n, k)` (torch's layout) laid out for `x W^T` products:
/// for one row, as column panels of `W^T`, each `(k, PANEL)` contiguous, so
/// that a mat-vec streams memory in order and keeps a panel's outputs in
/// registers (`vec_mul_nn`); for several rows, `W` as it is (`mul_nt`).
struct Weight<'a, T> {
    w: &'a [T],
    k: usize,
    n: usize,
    panels: Vec<T>,
}

/// Output columns per panel (one register block of `vec_mul_nn`).
const PANEL: usize = 64;

impl<'a, T: Float> Weight<'a, T> {
    fn new(w: &'a [T], n: usize, k: usize, batch: usize, what: &str) -> Result<Self> {
        let mut panels = Vec::new();
        if batch == 1 {
            panels = try_zeros(checked_size(&[n, k], what)?, what)?;
            let mut at = 0;
            for j0 in (0..n).step_by(PANEL) {
                let width = PANEL.min(n - j0);
                for p in 0..k {
                    for j in 0..width {
                        panels[at + p * width + j] = w[(j0 + j) * k + p];
                    }
                }
                at += k * width;
            }
        }
        Ok(Weight { w, k, n, panels })
    }

    /// `c (m, n) (+)= a (m, k) W^T`. For one row the panels run in reverse
    /// order when `reverse`: alternating the order from step to step starts
    /// each pass on the weights the previous one read last, still in cache
    /// when `W` is a bit larger than the cache (an LSTM of 256 units: 1 MiB
    /// of float32). Each output is the same sum either way.
    fn mul(&self, c: &mut [T], a: &[T], m: usize, accumulate: bool, reverse: bool) {
        let (k, n) = (self.k, self.n);
        if m != 1 {
            mul_nt(c, a, self.w, m, k, n, accumulate);
            return;
        }
        let blocks = c[..n].chunks_mut(PANEL).zip(self.panels.chunks(PANEL * k));
        if reverse {
            for (cb, pb) in blocks.rev() {
                vec_mul_nn(cb, a, pb, k, cb.len(), accumulate);
            }
        } else {
            for (cb, pb) in blocks {
                vec_mul_nn(cb, a, pb, k, cb.len(), accumulate);
            }
        }
    }
}

/// `C::EXTRA` of a cell value.
fn extra_of<C: Cell<f64>>(_: &C) -> usize {
    C::EXTRA
}

/// One layer of one stack, its weights laid out for the step (`Weight`),
/// with its per-step buffers.
struct Unit<'a, T> {
    mode: Mode,
    h: usize,
    h_out: usize,
    w_ih: Weight<'a, T>,
    w_hh: Weight<'a, T>,
    w_hr: Option<Weight<'a, T>>,
    /// The first layer's lookup table `(vocab_in, G*H)`, row `v` being
    /// `E[v] W_ih^T + input bias` (None: the input mat-vec each step).
    table: Option<Vec<T>>,
    input_bias: Vec<T>,
    rec_bias: Vec<T>,
    stack: usize,
    layer: usize,
    // Per-step buffers (`B` rows).
    gates: Vec<T>,
    rec: Vec<T>,
    extra: Vec<T>,
    out: Vec<T>,
    h_new: Vec<T>,
    c_new: Vec<T>,
}

impl<'a, T: Float> Unit<'a, T> {
    fn new(
        spec: &RnnSpec,
        params: &[&'a [T]],
        (stack, layer): (usize, usize),
        batch: usize,
        table: bool,
    ) -> Result<Self> {
        if !spec.mode.own_params().is_empty() || !spec.mode.full_layout() {
            return Err(Error::value(
                "model",
                format!(
                    "generate runs cells with the full gate layout and no parameters of their own, got {:?}",
                    spec.mode
                ),
            ));
        }
        let p = spec.dir_params(params, layer, 0);
        let (h, h_out, input) = (spec.hidden_size, spec.h_out(), spec.layer_input(layer));
        let gh = spec.mode.gates() * h;
        let zeros = vec![T::ZERO; gh];
        let (mut input_bias, mut rec_bias) = (vec![T::ZERO; gh], vec![T::ZERO; gh]);
        with_cell!(spec.mode, cell => cell.split_bias(
            h, p.b_ih.unwrap_or(&zeros), p.b_hh.unwrap_or(&zeros), &mut input_bias, &mut rec_bias));
        let extra = with_cell!(spec.mode, cell => extra_of(&cell));
        let rows =
            |n: usize, what: &str| -> Result<Vec<T>> { try_zeros(checked_size(&[batch, n], what)?, what) };
        Ok(Unit {
            mode: spec.mode,
            h,
            h_out,
            // With a table, `W_ih` is only read to build it.
            w_ih: Weight::new(p.w_ih, gh, input, if table { 0 } else { batch }, "weight_ih")?,
            w_hh: Weight::new(p.w_hh, gh, h_out, batch, "weight_hh")?,
            w_hr: p.w_hr.map(|w| Weight::new(w, h_out, h, batch, "weight_hr")).transpose()?,
            table: None,
            input_bias,
            rec_bias,
            stack,
            layer,
            gates: rows(gh, "gates")?,
            rec: rows(gh, "gates")?,
            extra: rows(extra * h, "gates")?,
            out: rows(h, "outputs")?,
            h_new: rows(h_out, "outputs")?,
            c_new: if spec.mode.has_c() { rows(h, "outputs")? } else { Vec::new() },
        })
    }

    /// Builds the lookup table of `embedding W_ih^T + input bias`.
    fn make_table(&mut self, embedding: &[T], vocab_in: usize) -> Result<()> {
        let gh = self.input_bias.len();
        let mut table = try_zeros(checked_size(&[vocab_in, gh], "table")?, "table")?;
        for row in table.chunks_exact_mut(gh) {
            row.copy_from_slice(&self.input_bias);
        }
        let input = self.w_ih.k;
        let a = Op::new(embedding, vocab_in, input);
        let b = Op::new(self.w_ih.w, gh, input).t();
        gemm(Parallelism::Serial, &mut table, gh, a, b, T::ONE, true);
        self.table = Some(table);
        Ok(())
    }

    /// One step of `b` rows: from the tokens (table) or the input rows `x`;
    /// updates the state rows `h` `(b, h_out)` and `c` `(b, H)`; the new
    /// hidden state is left in `h_new`.
    fn step(&mut self, tokens: &[usize], x: &[T], h: &mut [T], c: &mut [T], b: usize, reverse: bool) {
        let gh = self.input_bias.len();
        if let Some(table) = &self.table {
            for (row, &t) in self.gates.chunks_exact_mut(gh).zip(tokens) {
                row.copy_from_slice(&table[t * gh..(t + 1) * gh]);
            }
        } else {
            for row in self.gates.chunks_exact_mut(gh) {
                row.copy_from_slice(&self.input_bias);
            }
            self.w_ih.mul(&mut self.gates, x, b, true, reverse);
        }
        self.w_hh.mul(&mut self.rec, h, b, false, reverse);
        let out: &mut [T] = if self.w_hr.is_some() { &mut self.out } else { &mut self.h_new };
        with_cell!(self.mode, cell => cell.forward(StepIo {
            h: self.h,
            own: &[],
            input: &[],
            gates: &mut self.gates,
            rec: &self.rec,
            rec_bias: &self.rec_bias,
            h_prev: h,
            c_prev: c,
            c_new: &mut self.c_new,
            out,
            extra: &mut self.extra,
        }));
        if let Some(w) = &self.w_hr {
            w.mul(&mut self.h_new, &self.out, b, false, reverse);
        }
        h.copy_from_slice(&self.h_new);
        c.copy_from_slice(&self.c_new);
    }
}

fn check_model<T: Float>(m: &LanguageModel<'_, T>, batch: usize, state: &LmState<T>) -> Result<()> {
    if m.embedding.len() != m.vocab_in * m.emb_dim {
        return Err(Error::shape("embedding", format!("expected ({}, {}) values", m.vocab_in, m.emb_dim)));
    }
    if m.stacks.is_empty() {
        return Err(Error::value("layers", "expected at least one recurrent layer"));
    }
    if state.h.len() != m.stacks.len() || state.c.len() != m.stacks.len() {
        return Err(Error::value(
            "state",
            format!("expected one state per recurrent layer ({})", m.stacks.len()),
        ));
    }
    let mut features = m.emb_dim;
    for (s, st) in m.stacks.iter().enumerate() {
        let spec = &st.spec;
        spec.validate()?;
        if spec.bidirectional {
            return Err(Error::value(format!("layers[{s}]"), "a bidirectional layer cannot generate"));
        }
        if spec.input_size != features {
            return Err(Error::shape(
                format!("layers[{s}]"),
                format!(
                    "expected input_size {features} (the previous module's features), got {}",
                    spec.input_size
                ),
            ));
        }
        spec.check_params(&st.params, &format!("layers[{s}]"))?;
        let (l, ho) = (spec.num_layers, spec.h_out());
        if state.h[s].len() != l * batch * ho {
            return Err(Error::shape(format!("h[{s}]"), format!("expected shape ({l}, {batch}, {ho})")));
        }
        let cw = if spec.mode.has_c() { l * batch * spec.hidden_size } else { 0 };
        if state.c[s].len() != cw {
            return Err(Error::shape(format!("c[{s}]"), format!("expected {cw} values")));
        }
        features = ho;
    }
    if m.head_weight.len() != m.vocab * features || m.vocab == 0 {
        return Err(Error::shape(
            "head",
            format!("expected a weight of shape (vocab, {features}), vocab >= 1"),
        ));
    }
    if m.head_bias.is_some_and(|b| b.len() != m.vocab) {
        return Err(Error::shape("head_bias", format!("expected shape ({},)", m.vocab)));
    }
    Ok(())
}

/// Draws `length` tokens for each of `batch` sequences: the first from
/// `logits` `(B, V)` (the model's output after the prompt, whose state is
/// `state`), each next one from the model fed the previous token.
/// `uniforms` `(length, B)` (empty when the sampler is greedy). Returns the
/// tokens `(B, length)`; `state` ends as the state after the last token fed
/// (the one before the last drawn). Interruptible between steps.
pub fn generate<T: Float>(
    model: &LanguageModel<'_, T>,
    state: &mut LmState<T>,
    batch: usize,
    logits: &[T],
    length: usize,
    sampler: Sampler,
    uniforms: &[f64],
) -> Result<Vec<i64>> {
    check_model(model, batch, state)?;
    let v = model.vocab;
    if logits.len() != batch * v {
        return Err(Error::shape("logits", format!("expected shape ({batch}, {v})")));
    }
    let need = if sampler.uses_uniforms() { length * batch } else { 0 };
    if uniforms.len() != need {
        return Err(Error::shape("uniforms", format!("expected {need} values, got {}", uniforms.len())));
    }
    let table = model.vocab_in <= length.saturating_mul(batch);
    let mut units = Vec::new();
    for (s, st) in model.stacks.iter().enumerate() {
        for l in 0..st.spec.num_layers {
            units.push(Unit::new(&st.spec, &st.params, (s, l), batch, table && units.is_empty())?);
        }
    }
    if table {
        units[0].make_table(model.embedding, model.vocab_in)?;
    }
    let features = units.last().map_or(0, |u| u.h_out);
    let head = Weight::new(model.head_weight, v, features, batch, "head")?;
    let mut out = try_zeros::<i64>(checked_size(&[batch, length], "tokens")?, "tokens")?;
    let mut z: Vec<f64> = try_zeros(checked_size(&[batch, v], "logits")?, "logits")?;
    let mut scratch = Vec::with_capacity(v);
    let mut lg: Vec<T> = logits.to_vec();
    let mut tokens = vec![0usize; batch];
    let mut x: Vec<T> = Vec::new();
    for i in 0..length {
        for (b, t) in tokens.iter_mut().enumerate() {
            let zr = &mut z[b * v..(b + 1) * v];
            for (zv, &l) in zr.iter_mut().zip(&lg[b * v..(b + 1) * v]) {
                *zv = l.to_f64();
            }
            let u = if sampler.uses_uniforms() { uniforms[i * batch + b] } else { 0.0 };
            *t = sampler.draw(zr, u, &mut scratch);
            out[b * length + i] = *t as i64;
        }
        if i + 1 == length {
            break;
        }
        if i % 64 == 0 {
            crate::interrupt::check()?;
        }
        if units[0].table.is_none() {
            let e = model.emb_dim;
            x.clear();
            for &t in &tokens {
                x.extend_from_slice(&model.embedding[t * e..(t + 1) * e]);
            }
        }
        for u in units.iter_mut() {
            let (ho, hh) = (u.h_out, u.h);
            let hs = &mut state.h[u.stack][u.layer * batch * ho..(u.layer + 1) * batch * ho];
            let cs: &mut [T] = if u.c_new.is_empty() {
                &mut []
            } else {
                &mut state.c[u.stack][u.layer * batch * hh..(u.layer + 1) * batch * hh]
            };
            u.step(&tokens, &x, hs, cs, batch, i % 2 == 1);
            x.clear();
            x.extend_from_slice(&u.h_new);
        }
        for row in lg.chunks_exact_mut(v) {
            match model.head_bias {
                Some(bias) => row.copy_from_slice(bias),
                None => row.fill(T::ZERO),
            }
        }
        head.mul(&mut lg, &x, batch, true, i % 2 == 1);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer;

    /// Pseudo-random values in (-0.6, 0.6).
    fn data(n: usize, s: f64) -> Vec<f64> {
        (0..n).map(|i| 1.2 * ((((i as f64 + 1.0) * s).sin() * 43758.5453).rem_euclid(1.0) - 0.5)).collect()
    }

    struct Model {
        emb: Vec<f64>,
        specs: Vec<RnnSpec>,
        params: Vec<Vec<Vec<f64>>>,
        head: Vec<f64>,
        bias: Vec<f64>,
    }

    const VOCAB: usize = 7;
    const EMB: usize = 5;

    fn model() -> Model {
        let spec = |mode, input_size, hidden_size, num_layers, proj_size| RnnSpec {
            mode,
            input_size,
            hidden_size,
            num_layers,
            bidirectional: false,
            bias: true,
            proj_size,
        };
        // Two stacked LSTM layers with projection, then a GRU.
        let specs = vec![spec(Mode::Lstm, EMB, 6, 2, 4), spec(Mode::Gru, 4, 5, 1, 0)];
        let params = specs
            .iter()
            .enumerate()
            .map(|(s, sp)| {
                sp.param_shapes()
                    .iter()
                    .enumerate()
                    .map(|(i, (_, sh))| data(sh.iter().product(), 0.37 + 0.11 * i as f64 + s as f64))
                    .collect()
            })
            .collect();
        Model {
            emb: data(VOCAB * EMB, 0.7),
            specs,
            params,
            head: data(VOCAB * 5, 1.3).iter().map(|x| 6.0 * x).collect(),
            bias: data(VOCAB, 2.1),
        }
    }

    fn lm(m: &Model) -> LanguageModel<'_, f64> {
        LanguageModel {
            embedding: &m.emb,
            vocab_in: VOCAB,
            emb_dim: EMB,
            stacks: m
                .specs
                .iter()
                .zip(&m.params)
                .map(|(spec, p)| Stack {
                    spec: spec.clone(),
                    params: p.iter().map(|v| v.as_slice()).collect(),
                })
                .collect(),
            head_weight: &m.head,
            head_bias: Some(&m.bias),
            vocab: VOCAB,
        }
    }

    /// Logits `(T, V)` of a teacher-forced run over `tokens` (batch 1) from
    /// zero states, and the state after it.
    fn teacher_forced(m: &Model, tokens: &[usize]) -> (Vec<f64>, LmState<f64>) {
        let mut x: Vec<f64> = tokens.iter().flat_map(|&t| m.emb[t * EMB..(t + 1) * EMB].to_vec()).collect();
        let t = tokens.len();
        let mut st = LmState { h: vec![], c: vec![] };
        for (spec, p) in m.specs.iter().zip(&m.params) {
            let ps: Vec<&[f64]> = p.iter().map(|v| v.as_slice()).collect();
            let out = layer::forward(spec, &ps, &x, t, 1, None, None, false).unwrap().0;
            x = out.y;
            st.h.push(out.h_n);
            st.c.push(out.c_n);
        }
        let mut out = Vec::new();
        for row in x.chunks_exact(5) {
            for v in 0..VOCAB {
                out.push(m.bias[v] + (0..5).map(|j| row[j] * m.head[v * 5 + j]).sum::<f64>());
            }
        }
        (out, st)
    }

    fn zero_state(m: &Model, batch: usize) -> LmState<f64> {
        LmState {
            h: m.specs.iter().map(|s| vec![0.0; s.num_layers * batch * s.h_out()]).collect(),
            c: m.specs
                .iter()
                .map(
                    |s| if s.mode.has_c() { vec![0.0; s.num_layers * batch * s.hidden_size] } else { vec![] },
                )
                .collect(),
        }
    }

    #[test]
    fn greedy_generation_is_the_argmax_of_a_teacher_forced_run_with_and_without_the_table() {
        let m = model();
        let prime = [3usize, 0];
        // 12 draws for 7 tokens: the table; 4 draws: the input mat-vec.
        for length in [12, 4] {
            let (first, mut st) = teacher_forced(&m, &prime);
            let greedy = Sampler::new(0.0, None, VOCAB).unwrap();
            let out = generate(&lm(&m), &mut st, 1, &first[VOCAB..], length, greedy, &[]).unwrap();
            let mut seq = prime.to_vec();
            seq.extend(out.iter().map(|&t| t as usize));
            let logits = teacher_forced(&m, &seq[..seq.len() - 1]).0[VOCAB..].to_vec();
            let want: Vec<i64> = logits.chunks_exact(VOCAB).map(|r| argmax(r) as i64).collect();
            assert_eq!(out, want);
            assert!(out.iter().collect::<std::collections::HashSet<_>>().len() > 1, "{out:?}");
        }
    }

    #[test]
    fn batched_rows_generate_what_each_row_generates_alone() {
        let m = model();
        let (len, batch) = (9, 3);
        let starts = [1usize, 4, 6];
        let logits: Vec<f64> = starts.iter().flat_map(|&s| teacher_forced(&m, &[s]).0).collect();
        let u = data(len * batch, 0.9).iter().map(|x| x.abs()).collect::<Vec<_>>();
        let s = Sampler::new(1.3, Some(4), VOCAB).unwrap();
        let all = generate(&lm(&m), &mut zero_state(&m, batch), batch, &logits, len, s, &u).unwrap();
        for b in 0..batch {
            let ub: Vec<f64> = (0..len).map(|i| u[i * batch + b]).collect();
            let lb = &logits[b * VOCAB..(b + 1) * VOCAB];
            let one = generate(&lm(&m), &mut zero_state(&m, 1), 1, lb, len, s, &ub).unwrap();
            assert_eq!(one, all[b * len..(b + 1) * len]);
        }
    }

    #[test]
    fn sampler_follows_the_running_sums_and_respects_top_k() {
        let s = Sampler::new(1.0, None, 3).unwrap();
        let logits = [0.0, (2.0f64).ln(), 0.0]; // p = 1/4, 1/2, 1/4
        let mut sc = Vec::new();
        for (u, want) in [(0.0, 0), (0.2499, 0), (0.25, 1), (0.7499, 1), (0.75, 2), (0.9999, 2)] {
            assert_eq!(s.draw(&mut logits.clone(), u, &mut sc), want, "u {u}");
        }
        // top_k = 1 is the arg-max whatever the uniform; temperature 0 too.
        let k1 = Sampler::new(1.0, Some(1), 3).unwrap();
        let t0 = Sampler::new(0.0, None, 3).unwrap();
        for u in [0.0, 0.5, 0.99] {
            assert_eq!(k1.draw(&mut logits.clone(), u, &mut sc), 1);
        }
        assert_eq!(t0.draw(&mut logits.clone(), 0.0, &mut sc), 1);
        assert!(Sampler::new(-1.0, None, 3).is_err());
        assert!(Sampler::new(f64::NAN, None, 3).is_err());
        assert!(Sampler::new(1.0, Some(0), 3).is_err());
        assert!(Sampler::new(1.0, Some(4), 3).is_err());
    }

    #[test]
    fn bad_shapes_are_errors() {
        let m = model();
        let first = teacher_forced(&m, &[3]).0;
        let g = Sampler::new(1.0, None, VOCAB).unwrap();
        assert!(generate(&lm(&m), &mut zero_state(&m, 1), 1, &first, 3, g, &[0.5; 2]).is_err());
        assert!(generate(&lm(&m), &mut zero_state(&m, 2), 1, &first, 3, g, &[0.5; 3]).is_err());
        assert!(generate(&lm(&m), &mut zero_state(&m, 1), 1, &first[1..], 3, g, &[0.5; 3]).is_err());
        let mut bad = lm(&m);
        bad.stacks[1].spec.input_size = 3;
        assert!(generate(&bad, &mut zero_state(&m, 1), 1, &first, 3, g, &[0.5; 3]).is_err());
    }
}
