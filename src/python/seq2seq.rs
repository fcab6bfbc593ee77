//! Python bindings of `crate::seq2seq`: a `Seq2SeqSpec` (the model's variant
//! and sizes) whose methods train, run and decode a flat parameter vector.
//! The dtype of `params` (float32 / float64) selects the float type; token
//! arrays are C-contiguous int64 `(B, L)` with int64 lengths `(B,)`. All
//! compute runs with the GIL released.

use super::convert::{shape, slice, slice_mut, to_numpy};
use crate::seq2seq::decode::{self, Method};
use crate::seq2seq::{self as s2s, CellKind, Config, Context, Feed, Score, Tokens};
use crate::{Error, Float};
use numpy::{Element, PyArrayDyn, PyReadonlyArrayDyn, PyReadwriteArrayDyn};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// A sequence-to-sequence model's variant and sizes (no parameters).
#[pyclass(name = "Seq2SeqSpec", module = "rnnrs._core", frozen)]
pub struct Seq2SeqSpec {
    cfg: Config,
}

fn tokens<'a>(
    arg: &str,
    a: &'a PyReadonlyArrayDyn<'_, i64>,
    lengths: &'a PyReadonlyArrayDyn<'_, i64>,
    vocab: usize,
) -> PyResult<Tokens<'a>> {
    let sh = shape(a);
    if sh.len() != 2 {
        return Err(
            Error::shape(arg, format!("expected a (batch, time) token array, got shape {sh:?}")).into()
        );
    }
    let ls = shape(lengths);
    if ls.len() != 1 {
        return Err(Error::shape(
            format!("{arg}_lengths"),
            format!("expected a 1-D array, got shape {ls:?}"),
        )
        .into());
    }
    Ok(Tokens::new(arg, slice(a, arg)?, sh[0], sh[1], slice(lengths, "lengths")?, vocab)?)
}

type Arr<'py, T> = Bound<'py, PyArrayDyn<T>>;

fn forward_t<'py, T: Element + Float>(
    py: Python<'py>,
    cfg: &Config,
    params: PyReadonlyArrayDyn<'py, T>,
    (src, src_len, tgt, tgt_len): (
        PyReadonlyArrayDyn<'py, i64>,
        PyReadonlyArrayDyn<'py, i64>,
        PyReadonlyArrayDyn<'py, i64>,
        PyReadonlyArrayDyn<'py, i64>,
    ),
    feed: Feed,
) -> PyResult<Bound<'py, PyTuple>> {
    let p = slice(&params, "params")?;
    let src = tokens("src", &src, &src_len, cfg.src_vocab)?;
    let tgt = tokens("tgt", &tgt, &tgt_len, cfg.tgt_vocab)?;
    let (b, t, s) = (src.rows, tgt.cols, src.cols);
    let out = py.detach(|| s2s::forward(cfg, p, &src, &tgt, &feed))?;
    let logits = to_numpy(py, out.logits, &[b, t, cfg.tgt_vocab])?;
    let att: Option<Arr<'py, T>> =
        if out.attention.is_empty() { None } else { Some(to_numpy(py, out.attention, &[b, t, s])?) };
    (out.loss, logits, att).into_pyobject(py)
}

fn train_t<T: Element + Float>(
    py: Python<'_>,
    cfg: &Config,
    params: PyReadonlyArrayDyn<'_, T>,
    mut grads: PyReadwriteArrayDyn<'_, T>,
    (src, src_len, tgt, tgt_len): (
        PyReadonlyArrayDyn<'_, i64>,
        PyReadonlyArrayDyn<'_, i64>,
        PyReadonlyArrayDyn<'_, i64>,
        PyReadonlyArrayDyn<'_, i64>,
    ),
    feed: Feed,
) -> PyResult<f64> {
    let p = slice(&params, "params")?;
    let g = slice_mut(&mut grads, "grads")?;
    let src = tokens("src", &src, &src_len, cfg.src_vocab)?;
    let tgt = tokens("tgt", &tgt, &tgt_len, cfg.tgt_vocab)?;
    Ok(py.detach(|| s2s::train_step(cfg, p, g, &src, &tgt, &feed))?)
}

fn encode_t<'py, T: Element + Float>(
    py: Python<'py>,
    cfg: &Config,
    params: PyReadonlyArrayDyn<'py, T>,
    src: PyReadonlyArrayDyn<'py, i64>,
    src_len: PyReadonlyArrayDyn<'py, i64>,
) -> PyResult<Bound<'py, PyAny>> {
    let p = slice(&params, "params")?;
    let src = tokens("src", &src, &src_len, cfg.src_vocab)?;
    let b = src.rows;
    let code = py.detach(|| s2s::encode(cfg, p, &src))?;
    Ok(to_numpy(py, code, &[b, cfg.hidden])?.into_any())
}

#[allow(clippy::too_many_arguments)]
fn decode_t<'py, T: Element + Float>(
    py: Python<'py>,
    cfg: &Config,
    params: PyReadonlyArrayDyn<'py, T>,
    src: PyReadonlyArrayDyn<'py, i64>,
    src_len: PyReadonlyArrayDyn<'py, i64>,
    bos: i64,
    eos: i64,
    max_len: usize,
    method: Method,
) -> PyResult<Bound<'py, PyTuple>> {
    let p = slice(&params, "params")?;
    let src = tokens("src", &src, &src_len, cfg.src_vocab)?;
    let (b, s) = (src.rows, src.cols);
    let out = py.detach(|| decode::decode(cfg, p, &src, bos, eos, max_len, method))?;
    let toks = to_numpy(py, out.tokens, &[b, max_len])?;
    let lens = to_numpy(py, out.lengths.iter().map(|&l| l as i64).collect(), &[b])?;
    let scores = to_numpy(py, out.scores, &[b])?;
    let att: Option<Arr<'py, T>> =
        if out.attention.is_empty() { None } else { Some(to_numpy(py, out.attention, &[b, max_len, s])?) };
    (toks, lens, scores, att).into_pyobject(py)
}

fn dtype_error(arg: &str) -> PyErr {
    PyTypeError::new_err(format!("{arg}: expected a float32 or float64 array"))
}

type Batch<'py> = (
    PyReadonlyArrayDyn<'py, i64>,
    PyReadonlyArrayDyn<'py, i64>,
    PyReadonlyArrayDyn<'py, i64>,
    PyReadonlyArrayDyn<'py, i64>,
);

#[pymethods]
impl Seq2SeqSpec {
    /// `cell`: "lstm" | "gru"; `context`: "none" (Sutskever), "fixed" (Cho),
    /// "dot" | "general" | "additive" (attention).
    #[new]
    #[pyo3(signature = (cell, context, src_vocab, tgt_vocab, embedding_dim, hidden_size, attention_dim))]
    fn new(
        cell: &str,
        context: &str,
        src_vocab: usize,
        tgt_vocab: usize,
        embedding_dim: usize,
        hidden_size: usize,
        attention_dim: usize,
    ) -> PyResult<Self> {
        let cell = match cell {
            "lstm" => CellKind::Lstm,
            "gru" => CellKind::Gru,
            _ => return Err(Error::value("cell", format!("expected 'lstm' or 'gru', got {cell:?}")).into()),
        };
        let context = match context {
            "none" => Context::None,
            "fixed" => Context::Fixed,
            "dot" => Context::Attention(Score::Dot),
            "general" => Context::Attention(Score::General),
            "additive" => Context::Attention(Score::Additive),
            _ => {
                return Err(Error::value(
                    "context",
                    format!("expected 'none', 'fixed', 'dot', 'general' or 'additive', got {context:?}"),
                )
                .into())
            }
        };
        let cfg =
            Config::new(cell, context, src_vocab, tgt_vocab, embedding_dim, hidden_size, attention_dim)?;
        Ok(Seq2SeqSpec { cfg })
    }

    /// `[(name, shape), ...]` of the parameters, in their order in the flat vector.
    fn layout(&self) -> Vec<(String, Vec<usize>)> {
        self.cfg.layout().entries.into_iter().map(|(n, s, _)| (n.to_string(), s)).collect()
    }

    /// Number of parameters (length of the flat vector).
    #[getter]
    fn size(&self) -> usize {
        self.cfg.layout().total
    }

    /// One training step: returns the mean cross-entropy and ADDS the
    /// gradients into `grads` (same dtype and length as `params`).
    #[allow(clippy::too_many_arguments)]
    fn train_step(
        &self,
        py: Python<'_>,
        params: &Bound<'_, PyAny>,
        grads: &Bound<'_, PyAny>,
        src: PyReadonlyArrayDyn<'_, i64>,
        src_lengths: PyReadonlyArrayDyn<'_, i64>,
        tgt: PyReadonlyArrayDyn<'_, i64>,
        tgt_lengths: PyReadonlyArrayDyn<'_, i64>,
        bos: i64,
        teacher_prob: f64,
        seed: u64,
    ) -> PyResult<f64> {
        let feed = Feed { bos: s2s::check_token("bos", bos, self.cfg.tgt_vocab)?, teacher_prob, seed };
        let batch = (src, src_lengths, tgt, tgt_lengths);
        if let Ok(p) = params.extract::<PyReadonlyArrayDyn<'_, f32>>() {
            let g = grads.extract::<PyReadwriteArrayDyn<'_, f32>>().map_err(|_| dtype_error("grads"))?;
            train_t(py, &self.cfg, p, g, batch, feed)
        } else if let Ok(p) = params.extract::<PyReadonlyArrayDyn<'_, f64>>() {
            let g = grads.extract::<PyReadwriteArrayDyn<'_, f64>>().map_err(|_| dtype_error("grads"))?;
            train_t(py, &self.cfg, p, g, batch, feed)
        } else {
            Err(dtype_error("params"))
        }
    }

    /// `(loss, logits (B, T, V), attention (B, T, S) or None)`.
    #[allow(clippy::too_many_arguments)]
    fn forward<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
        src: PyReadonlyArrayDyn<'py, i64>,
        src_lengths: PyReadonlyArrayDyn<'py, i64>,
        tgt: PyReadonlyArrayDyn<'py, i64>,
        tgt_lengths: PyReadonlyArrayDyn<'py, i64>,
        bos: i64,
        teacher_prob: f64,
        seed: u64,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let feed = Feed { bos: s2s::check_token("bos", bos, self.cfg.tgt_vocab)?, teacher_prob, seed };
        let batch: Batch<'py> = (src, src_lengths, tgt, tgt_lengths);
        if let Ok(p) = params.extract::<PyReadonlyArrayDyn<'py, f32>>() {
            forward_t(py, &self.cfg, p, batch, feed)
        } else if let Ok(p) = params.extract::<PyReadonlyArrayDyn<'py, f64>>() {
            forward_t(py, &self.cfg, p, batch, feed)
        } else {
            Err(dtype_error("params"))
        }
    }

    /// The encoder's final hidden state `(B, H)`.
    fn encode<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
        src: PyReadonlyArrayDyn<'py, i64>,
        src_lengths: PyReadonlyArrayDyn<'py, i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(p) = params.extract::<PyReadonlyArrayDyn<'py, f32>>() {
            encode_t(py, &self.cfg, p, src, src_lengths)
        } else if let Ok(p) = params.extract::<PyReadonlyArrayDyn<'py, f64>>() {
            encode_t(py, &self.cfg, p, src, src_lengths)
        } else {
            Err(dtype_error("params"))
        }
    }

    /// `(tokens (B, max_len), lengths (B,), scores (B,), attention or None)`;
    /// `method`: "greedy", "sample" or "beam".
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (params, src, src_lengths, bos, eos, max_len, method, beam_width=4, length_penalty=1.0, temperature=1.0, top_k=0, seed=0))]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
        src: PyReadonlyArrayDyn<'py, i64>,
        src_lengths: PyReadonlyArrayDyn<'py, i64>,
        bos: i64,
        eos: i64,
        max_len: usize,
        method: &str,
        beam_width: usize,
        length_penalty: f64,
        temperature: f64,
        top_k: usize,
        seed: u64,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let m = match method {
            "greedy" => Method::Greedy,
            "sample" => Method::Sample { temperature, top_k, seed },
            "beam" => Method::Beam { width: beam_width, length_penalty },
            _ => {
                return Err(Error::value(
                    "method",
                    format!("expected 'greedy', 'sample' or 'beam', got {method:?}"),
                )
                .into())
            }
        };
        if let Ok(p) = params.extract::<PyReadonlyArrayDyn<'py, f32>>() {
            decode_t(py, &self.cfg, p, src, src_lengths, bos, eos, max_len, m)
        } else if let Ok(p) = params.extract::<PyReadonlyArrayDyn<'py, f64>>() {
            decode_t(py, &self.cfg, p, src, src_lengths, bos, eos, max_len, m)
        } else {
            Err(dtype_error("params"))
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Seq2SeqSpec>()?;
    Ok(())
}
