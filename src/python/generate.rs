//! Python binding of `crate::seq2seq::generate`: `lm_generate`, the token
//! loop of `rnnrs.generate` in Rust. The dtype of `embedding` selects float32
//! or float64; every other float array must match it.

use super::convert::{shape, slice, to_numpy};
use crate::layer::{Mode, RnnSpec};
use crate::seq2seq::generate::{self as gen, LanguageModel, LmState, Sampler, Stack};
use crate::{Error, Float};
use numpy::{Element, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn};
use pyo3::prelude::*;

/// One recurrent module as Python describes it: `(mode, params, hidden_size,
/// num_layers, bias, proj_size)`.
type LayerArgs<'py> = (String, Vec<Bound<'py, PyAny>>, usize, usize, bool, usize);

fn array<'py, T: Element + Float>(a: &Bound<'py, PyAny>, arg: &str) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    let arr = a
        .cast::<PyArrayDyn<T>>()
        .map_err(|_| Error::dtype(arg, format!("expected a numpy.ndarray of dtype {}", T::NAME)))?;
    Ok(arr.try_readonly().map_err(|e| Error::value(arg, e.to_string()))?)
}

#[allow(clippy::too_many_arguments)]
fn generate_t<'py, T: Element + Float>(
    py: Python<'py>,
    embedding: &Bound<'py, PyAny>,
    layers: &[LayerArgs<'py>],
    head_weight: &Bound<'py, PyAny>,
    head_bias: Option<&Bound<'py, PyAny>>,
    states: &[(Bound<'py, PyAny>, Option<Bound<'py, PyAny>>)],
    logits: &Bound<'py, PyAny>,
    length: usize,
    sampler: (f64, Option<usize>),
    uniforms: PyReadonlyArrayDyn<'py, f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let emb = array::<T>(embedding, "embedding")?;
    let es = shape(&emb);
    if es.len() != 2 {
        return Err(Error::shape("embedding", format!("expected (num_embeddings, dim), got {es:?}")).into());
    }
    let hw = array::<T>(head_weight, "head_weight")?;
    let hs = shape(&hw);
    if hs.len() != 2 {
        return Err(Error::shape("head_weight", format!("expected (vocab, features), got {hs:?}")).into());
    }
    let hb = head_bias.filter(|b| !b.is_none()).map(|b| array::<T>(b, "head_bias")).transpose()?;
    let lg = array::<T>(logits, "logits")?;
    let ls = shape(&lg);
    if ls.len() != 2 || ls[1] != hs[0] {
        return Err(Error::shape("logits", format!("expected (batch, {}), got {ls:?}", hs[0])).into());
    }
    let batch = ls[0];
    let mut param_arrays = Vec::with_capacity(layers.len());
    let mut specs = Vec::with_capacity(layers.len());
    let mut features = es[1];
    for (i, (mode, params, hidden_size, num_layers, bias, proj_size)) in layers.iter().enumerate() {
        let spec = RnnSpec {
            mode: Mode::parse(mode)?,
            input_size: features,
            hidden_size: *hidden_size,
            num_layers: *num_layers,
            bidirectional: false,
            bias: *bias,
            proj_size: *proj_size,
        };
        features = spec.h_out();
        let arrs = params
            .iter()
            .enumerate()
            .map(|(j, p)| array::<T>(p, &format!("layers[{i}].params[{j}]")))
            .collect::<PyResult<Vec<_>>>()?;
        specs.push(spec);
        param_arrays.push(arrs);
    }
    if states.len() != layers.len() {
        return Err(Error::value(
            "states",
            format!("expected {} states, got {}", layers.len(), states.len()),
        )
        .into());
    }
    let mut st = LmState { h: Vec::new(), c: Vec::new() };
    for (i, (h, c)) in states.iter().enumerate() {
        st.h.push(slice(&array::<T>(h, &format!("states[{i}].h"))?, "h")?.to_vec());
        let c = c.as_ref().filter(|c| !c.is_none());
        st.c.push(match c {
            Some(c) => slice(&array::<T>(c, &format!("states[{i}].c"))?, "c")?.to_vec(),
            None => Vec::new(),
        });
    }
    let stacks = specs
        .into_iter()
        .zip(&param_arrays)
        .map(|(spec, arrs)| {
            let params = arrs.iter().map(|a| slice(a, "params")).collect::<PyResult<Vec<_>>>()?;
            Ok(Stack { spec, params })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let model = LanguageModel {
        embedding: slice(&emb, "embedding")?,
        vocab_in: es[0],
        emb_dim: es[1],
        stacks,
        head_weight: slice(&hw, "head_weight")?,
        head_bias: hb.as_ref().map(|b| slice(b, "head_bias")).transpose()?,
        vocab: hs[0],
    };
    let sampler = Sampler::new(sampler.0, sampler.1, hs[0])?;
    let lgs = slice(&lg, "logits")?;
    let us = slice(&uniforms, "uniforms")?;
    let tokens = py.detach(|| {
        crate::interrupt::watched(|| gen::generate(&model, &mut st, batch, lgs, length, sampler, us))
    })?;
    Ok(to_numpy(py, tokens, &[batch, length])?.into_any())
}

/// Draws `length` tokens per row from a language model `Embedding -> layers
/// -> Linear` (see `rnnrs.generate`): the first from `logits` `(B, V)`, the
/// model's output after the prompt, whose recurrent state is `states` (per
/// layer `(h (L, B, h_out), c (L, B, H) or None)`); each next one from the
/// model fed the previous token. `uniforms` `(length * B,)`: one per draw in
/// `(step, row)` order (empty when `temperature == 0`). Returns int64 `(B, length)`.
#[pyfunction]
#[pyo3(signature = (embedding, layers, head_weight, head_bias, states, logits, length, temperature, top_k, uniforms))]
#[allow(clippy::too_many_arguments)]
fn lm_generate<'py>(
    py: Python<'py>,
    embedding: Bound<'py, PyAny>,
    layers: Vec<LayerArgs<'py>>,
    head_weight: Bound<'py, PyAny>,
    head_bias: Option<Bound<'py, PyAny>>,
    states: Vec<(Bound<'py, PyAny>, Option<Bound<'py, PyAny>>)>,
    logits: Bound<'py, PyAny>,
    length: usize,
    temperature: f64,
    top_k: Option<usize>,
    uniforms: PyReadonlyArrayDyn<'py, f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let s = (temperature, top_k);
    if embedding.cast::<PyArrayDyn<f64>>().is_ok() {
        generate_t::<f64>(
            py,
            &embedding,
            &layers,
            &head_weight,
            head_bias.as_ref(),
            &states,
            &logits,
            length,
            s,
            uniforms,
        )
    } else {
        generate_t::<f32>(
            py,
            &embedding,
            &layers,
            &head_weight,
            head_bias.as_ref(),
            &states,
            &logits,
            length,
            s,
            uniforms,
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lm_generate, m)?)?;
    Ok(())
}
