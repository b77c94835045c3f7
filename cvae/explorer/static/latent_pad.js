// The latent pad: a Streamlit Custom Components v2 module (no build step, no network).
//
// The CVAE decoder runs here, in plain Float32Arrays, so dragging the point decodes and paints a new digit every
// animation frame without asking the server. Python only hears the chosen code: on release, and (throttled) a few
// times a second while the point moves. The maths mirrors cvae/explorer/numpy_model.py's NumpyCVAE exactly:
//   Dense(d -> 7*7*32) + ReLU -> reshape 7x7x32 -> Conv2DTranspose(64, 3, s2, same) + ReLU
//   -> Conv2DTranspose(32, 3, s2, same) + ReLU -> Conv2DTranspose(1, 3, s1, same) -> logits -> sigmoid.
//
// Big arrays (decoder weights, map points) arrive once per version as base64 float32/uint8 ("blobs") and are
// kept in a page-wide cache keyed by that version, so later reruns send only the small state.

const G = globalThis;
// Survives the component being unmounted and remounted (page switches, reruns): one cache per browser tab.
const BLOBS = G.__cvaeLatentPadBlobs || (G.__cvaeLatentPadBlobs = new Map());
const PARTS = G.__cvaeLatentPadParts || (G.__cvaeLatentPadParts = new Map()); // version -> pieces received
const INSTANCES = G.__cvaeLatentPadInstances || (G.__cvaeLatentPadInstances = new Map());
// While the point moves, Python hears nothing unless data.report_ms > 0 (then at most one report per report_ms);
// it always hears the release, and a key press 300 ms after the last key. Every report is a server rerun.
const KEY_DEBOUNCE_MS = 300;
const STEP = 0.1, FINE_STEP = 0.01; // arrow keys; Shift+arrow
// A decoder slower than this (its warm-up median: it could not paint 30 frames a second) previews while dragging
// and decodes exactly on release. Tests and the benchmark may change it (globalThis.__cvaeLatentPadSlowMs).
const slowMs = () => G.__cvaeLatentPadSlowMs ?? 33;

// ------------------------------------------------------------------------------------------- class markers

// One outline per class, as plotly's marker symbols on the other maps (cvae/explorer/figures.py CLASS_SYMBOLS), so no
// class differs by colour alone. Unit polygons, y down (canvas and SVG).
const regular = (n, rot, r = 1) => Array.from({length: n}, (_, k) =>
  [r * Math.cos(rot + 2 * Math.PI * k / n), r * Math.sin(rot + 2 * Math.PI * k / n)]);
const plus = w => [[-w, -1], [w, -1], [w, -w], [1, -w], [1, w], [w, w], [w, 1], [-w, 1], [-w, w], [-1, w], [-1, -w], [-w, -w]];
const SHAPES = {
  "circle": regular(16, 0), "square": regular(4, Math.PI / 4, 1.15), "diamond": regular(4, 0, 1.25),
  "cross": plus(0.36), "x": plus(0.36).map(([x, y]) => [(x - y) * 0.85, (x + y) * 0.85]),
  "triangle-up": regular(3, -Math.PI / 2, 1.25), "triangle-down": regular(3, Math.PI / 2, 1.25),
  "triangle-left": regular(3, Math.PI, 1.25), "triangle-right": regular(3, 0, 1.25), "hexagon": regular(6, 0, 1.1),
};
const shapeOf = name => SHAPES[name] || SHAPES.circle;

function markerSVG(symbol, color) {
  const pts = shapeOf(symbol).map(([x, y]) => `${x.toFixed(3)},${y.toFixed(3)}`).join(" ");
  return `<svg class="lp-mark" viewBox="-1.3 -1.3 2.6 2.6" aria-hidden="true"><polygon points="${pts}" fill="${color}"/></svg>`;
}

// ------------------------------------------------------------------------------------------- decoding blobs

function b64ToBytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function b64ToFloat32(b64) {
  const bytes = b64ToBytes(b64);
  // Little-endian float32, as NumPy's '<f4' (every browser runs on a little-endian CPU; DataView makes sure).
  const n = bytes.length >> 2, out = new Float32Array(n), dv = new DataView(bytes.buffer);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
  return out;
}

// Output channels per block: a block's accumulators live in local variables (registers) and its kernel slice is
// read sequentially, so one block's weights (9 taps x cin x 8 floats) stay in the CPU cache across all pixels.
const BLOCK = 8;

// Keras Conv2DTranspose kernel (3, 3, cout, cin) -> Float32Array [tap][block][cin][8] (full blocks of 8 output
// channels) and [tap][rest][cin] for the last cout % 8 channels: every inner loop reads consecutive floats.
function blockKernel(k, cout, cin, padded = false) {
  // padded: every channel in blocks of 8 (the last block filled with zero weights), for the SIMD kernel below.
  const full = padded ? Math.ceil(cout / BLOCK) * BLOCK : cout - cout % BLOCK, rest = padded ? 0 : cout - full;
  const nb = full / BLOCK;
  const blocks = new Float32Array(9 * full * cin), tail = new Float32Array(9 * rest * cin);
  for (let tap = 0; tap < 9; tap++)
    for (let co = 0; co < cout; co++)
      for (let ci = 0; ci < cin; ci++) {
        const v = k[(tap * cout + co) * cin + ci];
        if (co < full && (padded || co < cout - rest)) blocks[((tap * nb + (co / BLOCK | 0)) * cin + ci) * BLOCK + co % BLOCK] = v;
        else tail[(tap * rest + co - full) * cin + ci] = v;
      }
  return {blocks, tail, full, rest, nb};
}

// WebAssembly SIMD, assembled here byte by byte (no build step, nothing fetched): one function
//   dot(x, k, n, acc): acc[0..8] += sum_{i<n} x[i] * k[8i .. 8i+8]   (float32; pointers are byte offsets)
// the inner loop of a transposed convolution's block of 8 output channels, as two f32x4 accumulators. Measured in
// headless Chromium on this project's 2-core machine (bench/RESULTS.md, "The latent pad for any network"), it decodes
// a 512-wide network ~4x faster than the plain-JavaScript loops below, which stay as the fallback.
const leb = n => { const out = []; do { let b = n & 127; n >>>= 7; if (n) b |= 128; out.push(b); } while (n); return out; };
const section = (id, bytes) => [id, ...leb(bytes.length), ...bytes];
function dotModule() {
  const V = [0xfd], LOAD = off => [...V, 0x00, 0x00, off], MUL = [...V, 0xe6, 0x01], ADD = [...V, 0xe4, 0x01];
  const get = i => [0x20, i], set = i => [0x21, i];
  const body = [
    1, 3, 0x7b, // three v128 locals: a0 (4), a1 (5), v (6)
    ...get(3), ...LOAD(0), ...set(4), ...get(3), ...LOAD(16), ...set(5),
    0x03, 0x40, // loop
    ...get(0), ...V, 0x09, 0x00, 0x00, ...set(6), // v = splat(x[i])
    ...get(4), ...get(6), ...get(1), ...LOAD(0), ...MUL, ...ADD, ...set(4),
    ...get(5), ...get(6), ...get(1), ...LOAD(16), ...MUL, ...ADD, ...set(5),
    ...get(0), 0x41, 4, 0x6a, ...set(0), ...get(1), 0x41, 32, 0x6a, ...set(1),
    ...get(2), 0x41, 1, 0x6b, 0x22, 2, 0x0d, 0, // n -= 1; continue while n != 0
    0x0b,
    ...get(3), ...get(4), ...V, 0x0b, 0x00, 0x00, ...get(3), ...get(5), ...V, 0x0b, 0x00, 16,
    0x0b];
  const name = t => [t.length, ...Array.from(t, c => c.charCodeAt(0))];
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, [1, 0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 0]),
    ...section(2, [1, ...name("env"), ...name("mem"), 2, 0, 1]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name("dot"), 0, 0]),
    ...section(10, [1, ...leb(body.length), ...body])]);
}
let DOT_MODULE;
try { DOT_MODULE = new WebAssembly.Module(dotModule()); } catch (err) { DOT_MODULE = null; }
// Tests and the benchmark switch it off to measure the plain-JavaScript decoder.
G.__cvaeLatentPadUseWasm = G.__cvaeLatentPadUseWasm ?? true;

// For each output row (or column) y of a Conv2DTranspose(k=3, stride s, padding="same"): the kernel taps a and
// input rows i with i*s + a - top = y. TensorFlow's SAME padding puts the smaller half first:
// top = ((h-1)*s + k - h*s) // 2, as cvae/explorer/numpy_model.py's _conv2d_transpose_same crops its full output.
function taps(h, s) {
  const H = h * s, top = Math.max((h - 1) * s + 3 - H, 0) >> 1, out = [];
  for (let y = 0; y < H; y++) {
    const t = [];
    for (let a = 0; a < 3; a++) {
      const n = y + top - a;
      if (n >= 0 && n % s === 0 && n / s < h) t.push([a, n / s]);
    }
    out.push(t);
  }
  return out;
}

const shapeStr = s => (s || []).join("x");
const MEAN_OPS = new Set(["sigmoid", "clip"]);

// The decoder the blob describes: its layers (cvae/store/arch.py's Layer.to_json: kind, in_shape, out_shape,
// stride, relu) interpreted in order, as cvae/explorer/numpy_model.py's NumpyCVAE._run does; the output's
// likelihood parameters become the mean image (blob.mean: op "sigmoid" per channel, or "clip" of the first
// `channels` of them to [0, 1]). Weights are float32 as they came; sums are doubles (V8's numbers).
class Decoder {
  constructor(blob, arrays, shapes) {
    this.d = blob.latent_dim;
    const specs = blob.layers;
    if (!Array.isArray(specs) || !specs.length) throw new Error("decoder: the blob has no layers");
    this.image = blob.image; // [H, W, C]
    this.mean = blob.mean;
    if (!this.mean || !MEAN_OPS.has(this.mean.op)) throw new Error(`decoder: unknown mean op ${this.mean && this.mean.op}`);
    if (shapeStr(specs[0].in_shape) !== String(this.d)) throw new Error(`decoder: input ${specs[0].in_shape}, latent ${this.d}`);
    this.layers = [];
    this.simd = !!(DOT_MODULE && G.__cvaeLatentPadUseWasm);
    let shape = specs[0].in_shape;
    for (const L of specs) {
      if (shapeStr(L.in_shape) !== shapeStr(shape)) throw new Error(`decoder: ${L.name} expects ${L.in_shape}, gets ${shape}`);
      const n = L.out_shape.reduce((a, b) => a * b, 1);
      const layer = {kind: L.kind, name: L.name, relu: !!L.relu, stride: L.stride, in: L.in_shape, outShape: L.out_shape};
      if (L.kind === "dense" || L.kind === "deconv") {
        const cin = L.in_shape[L.in_shape.length - 1], cout = L.out_shape[L.out_shape.length - 1];
        const want = {kernel: L.kind === "dense" ? [cin, cout] : [3, 3, cout, cin], bias: [cout]};
        for (const [part, ws] of Object.entries(want)) {
          const got = shapes[`${L.name}/${part}`];
          if (shapeStr(got) !== shapeStr(ws)) throw new Error(`decoder: ${L.name}/${part} has shape ${got}, expected ${ws}`);
        }
        layer.bias = arrays[`${L.name}/bias`];
        layer.cin = cin; layer.cout = cout;
        if (L.kind === "dense") layer.k = arrays[`${L.name}/kernel`];
        else {
          if (L.out_shape[0] !== L.in_shape[0] * L.stride) throw new Error(`decoder: ${L.name} is not a 'same' deconv`);
          Object.assign(layer, blockKernel(arrays[`${L.name}/kernel`], cout, cin, this.simd));
          layer.h = L.in_shape[0]; layer.taps = taps(L.in_shape[0], L.stride);
        }
        layer.out = new Float32Array(n);
      } else if (L.kind !== "reshape" && L.kind !== "flatten") throw new Error(`decoder: unknown layer kind ${L.kind}`);
      this.layers.push(layer);
      shape = L.out_shape;
    }
    const [H, W, C] = this.image, P = shape[shape.length - 1];
    if (shape[0] !== H || shape[1] !== W || (this.mean.op === "sigmoid" ? P !== C : P < C))
      throw new Error(`decoder: output ${shape} for image ${this.image}`);
    this.outChannels = P;
    this.pixels = new Float32Array(H * W * C);
    if (this.simd) this.intoWasm();
    this.params = Object.values(arrays).reduce((n, a) => n + a.length, 0);
  }

  // One WebAssembly memory per decoder holding the blocked kernels and every layer's output (the next layer's
  // input), so the SIMD dot reads them in place.
  intoWasm() {
    const parts = this.layers.filter(L => L.out);
    let floats = 8;
    for (const L of parts) floats += L.out.length + 4 + (L.blocks ? L.blocks.length + 4 : 0);
    const mem = new WebAssembly.Memory({initial: Math.ceil(4 * floats / 65536) + 1});
    this.dot = new WebAssembly.Instance(DOT_MODULE, {env: {mem}}).exports.dot;
    let off = 0;
    const view = (n, from) => {
      const v = new Float32Array(mem.buffer, off, n);
      if (from) v.set(from);
      off = (off + 4 * n + 15) & ~15; // 16-byte aligned
      return v;
    };
    this.acc = view(8);
    for (const L of parts) {
      L.out = view(L.out.length);
      if (L.blocks) {
        L.blocks = view(L.blocks.length, L.blocks);
        L.biasP = new Float32Array(L.nb * BLOCK);
        L.biasP.set(L.bias);
      }
    }
  }

  static deconvSimd(x, L, dec) {
    const {blocks, nb, biasP, h, cin, cout, out, relu, taps: T} = L;
    const H = T.length, acc = dec.acc, accPtr = acc.byteOffset, dot = dec.dot, xb = x.byteOffset, kb0 = blocks.byteOffset;
    for (let blk = 0; blk < nb; blk++) {
      const c0 = blk * BLOCK, n = Math.min(BLOCK, cout - c0);
      for (let y = 0; y < H; y++) {
        const ty = T[y];
        for (let xo = 0; xo < H; xo++) {
          const tx = T[xo], o = (y * H + xo) * cout + c0;
          for (let j = 0; j < BLOCK; j++) acc[j] = biasP[c0 + j];
          for (let p = 0; p < ty.length; p++) {
            const i = ty[p][1] * h, ka = ty[p][0] * 3;
            for (let q = 0; q < tx.length; q++)
              dot(xb + 4 * (i + tx[q][1]) * cin, kb0 + 4 * ((ka + tx[q][0]) * nb + blk) * cin * BLOCK, cin, accPtr);
          }
          for (let j = 0; j < n; j++) { const v = acc[j]; out[o + j] = relu && v < 0 ? 0 : v; }
        }
      }
    }
    return out;
  }

  static dense(x, L) {
    const {k, bias, cin, cout, out, relu} = L;
    const acc = L.acc || (L.acc = new Float64Array(cout));
    acc.set(bias);
    for (let i = 0; i < cin; i++) {
      const v = x[i];
      if (v === 0) continue;
      const row = i * cout;
      for (let o = 0; o < cout; o++) acc[o] += v * k[row + o];
    }
    for (let o = 0; o < cout; o++) out[o] = relu && acc[o] < 0 ? 0 : acc[o];
    return out;
  }

  // Conv2DTranspose(padding="same") as a gather: every output pixel sums input * kernel over the (1, 2 or 4) taps
  // that reach it. Blocks of 8 output channels outermost (their kernel slice stays in cache over all pixels), the
  // 8 sums in locals, inputs a ReLU left at exactly zero skipped (about half of them).
  static deconv(x, L) {
    const {blocks, tail, full, rest, nb, bias, h, cin, cout, out, relu, taps: T} = L;
    const H = T.length;
    for (let blk = 0; blk < nb; blk++) {
      const c0 = blk * BLOCK;
      for (let y = 0; y < H; y++) {
        const ty = T[y];
        for (let xo = 0; xo < H; xo++) {
          const tx = T[xo], o = (y * H + xo) * cout + c0;
          let a0 = bias[c0], a1 = bias[c0 + 1], a2 = bias[c0 + 2], a3 = bias[c0 + 3];
          let a4 = bias[c0 + 4], a5 = bias[c0 + 5], a6 = bias[c0 + 6], a7 = bias[c0 + 7];
          for (let p = 0; p < ty.length; p++) {
            const i = ty[p][1] * h, ka = ty[p][0] * 3;
            for (let q = 0; q < tx.length; q++) {
              const xi = (i + tx[q][1]) * cin, kb = ((ka + tx[q][0]) * nb + blk) * cin * BLOCK;
              for (let ci = 0; ci < cin; ci++) {
                const v = x[xi + ci];
                if (v === 0) continue;
                const k = kb + ci * BLOCK;
                a0 += v * blocks[k]; a1 += v * blocks[k + 1]; a2 += v * blocks[k + 2]; a3 += v * blocks[k + 3];
                a4 += v * blocks[k + 4]; a5 += v * blocks[k + 5]; a6 += v * blocks[k + 6]; a7 += v * blocks[k + 7];
              }
            }
          }
          if (relu) {
            out[o] = a0 > 0 ? a0 : 0; out[o + 1] = a1 > 0 ? a1 : 0; out[o + 2] = a2 > 0 ? a2 : 0;
            out[o + 3] = a3 > 0 ? a3 : 0; out[o + 4] = a4 > 0 ? a4 : 0; out[o + 5] = a5 > 0 ? a5 : 0;
            out[o + 6] = a6 > 0 ? a6 : 0; out[o + 7] = a7 > 0 ? a7 : 0;
          } else {
            out[o] = a0; out[o + 1] = a1; out[o + 2] = a2; out[o + 3] = a3;
            out[o + 4] = a4; out[o + 5] = a5; out[o + 6] = a6; out[o + 7] = a7;
          }
        }
      }
    }
    for (let r = 0; r < rest; r++) { // the last cout % 8 channels (the output layer's 1, 3 or 6), one at a time
      const co = full + r;
      for (let y = 0; y < H; y++) {
        const ty = T[y];
        for (let xo = 0; xo < H; xo++) {
          const tx = T[xo];
          let acc = bias[co];
          for (let p = 0; p < ty.length; p++) {
            const i = ty[p][1] * h, ka = ty[p][0] * 3;
            for (let q = 0; q < tx.length; q++) {
              const xi = (i + tx[q][1]) * cin, kb = ((ka + tx[q][0]) * rest + r) * cin;
              for (let ci = 0; ci < cin; ci++) acc += x[xi + ci] * tail[kb + ci];
            }
          }
          out[(y * H + xo) * cout + co] = relu && acc < 0 ? 0 : acc;
        }
      }
    }
    return out;
  }

  // The likelihood's parameters of one code (length d), as the decoder's own Float32Array (H*W*P, HWC order).
  forward(z) {
    let x = z;
    for (const L of this.layers) if (L.out) x = this.step(x, L);
    return x;
  }

  step(x, L) {
    if (L.kind === "dense") return Decoder.dense(x, L);
    return this.simd ? Decoder.deconvSimd(x, L, this) : Decoder.deconv(x, L);
  }

  // The mean image of one code: Float32Array(H*W*C) in [0, 1], HWC order, owned by the decoder.
  decode(z) {
    return this.meanImage(this.forward(z));
  }

  // One draw x ~ p(x | z) for the last decoded code, given uniform noise u (length H*W*C), as values in [0, 1]:
  // "bernoulli" x = [u < p]; "logistic" the logistic's inverse CDF at u, rounded to its 8-bit bin.
  sampleImage(u, out) {
    const n = out.length, C = this.image[2], P = this.outChannels, last = this.layers[this.layers.length - 1].out;
    if (this.mean.sample === "logistic") {
      const floor = this.mean.log_scale_min;
      for (let i = 0; i < n; i++) {
        const j = (i / C | 0) * P + i % C, m = last[j], ls = Math.max(last[j + C], floor);
        const x = m + Math.exp(ls) * (Math.log(u[i]) - Math.log1p(-u[i]));
        out[i] = Math.min(255, Math.max(0, Math.round(x * 255))) / 255;
      }
    } else for (let i = 0; i < n; i++) out[i] = u[i] < this.pixels[i] ? 1 : 0;
    return out;
  }

  // The network's exact linearization at z along `dirs` (unit vectors in code space): the parameters at z and
  // their derivative along each direction. A ReLU network is piecewise linear, so params(z + sum a_k dir_k) =
  // params(z) + sum a_k T_k exactly until a unit switches on or off: the preview a wide decoder paints while
  // dragging (one matrix-vector product per frame instead of the network).
  linearize(z, dirs) {
    const masks = [];
    let x = z;
    for (const L of this.layers) if (L.out) { x = this.step(x, L); masks.push(Float32Array.from(x)); }
    const params = masks[masks.length - 1];
    const tangents = dirs.map(dir => {
      let t = Float32Array.from(dir), i = 0;
      for (const L of this.layers) {
        if (!L.out) continue;
        // The same layer without its bias and ReLU (its output buffer is scratch now: the primal was copied).
        const saved = [L.bias, L.biasP, L.relu];
        L.bias = L.zero || (L.zero = new Float32Array(L.cout));
        if (L.biasP) L.biasP = L.zeroP || (L.zeroP = new Float32Array(L.biasP.length));
        L.relu = false;
        try { t = this.step(t, L); } finally { [L.bias, L.biasP, L.relu] = saved; }
        if (L.relu) { const m = masks[i]; for (let j = 0; j < t.length; j++) if (!(m[j] > 0)) t[j] = 0; }
        i++;
      }
      return Float32Array.from(t);
    });
    return {z: Float32Array.from(z), dirs: dirs.map(d => Float32Array.from(d)), params, tangents};
  }

  // The preview at z from a linearization, or null when z is not in its plane (then decode exactly).
  preview(lin, z) {
    const a = lin.dirs.map(dir => dir.reduce((s, v, i) => s + v * (z[i] - lin.z[i]), 0));
    for (let i = 0; i < z.length; i++) {
      let r = z[i] - lin.z[i];
      lin.dirs.forEach((dir, k) => { r -= a[k] * dir[i]; });
      if (Math.abs(r) > 1e-4) return null;
    }
    const p = this.layers[this.layers.length - 1].out, {params, tangents} = lin;
    for (let j = 0; j < p.length; j++) {
      let v = params[j];
      for (let k = 0; k < tangents.length; k++) v += a[k] * tangents[k][j];
      p[j] = v;
    }
    return this.meanImage(p);
  }

  meanImage(params) {
    const out = this.pixels, n = out.length, C = this.image[2], P = this.outChannels;
    if (this.mean.op === "sigmoid") for (let i = 0; i < n; i++) out[i] = 0.5 * (1 + Math.tanh(0.5 * params[i]));
    else for (let i = 0; i < n; i++) { // clip: the first C of the P parameters of each pixel
      const v = params[(i / C | 0) * P + i % C];
      out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    return out;
  }
}

// A "model" blob -> Decoder; a "map" blob -> {points: Float32Array(2N), labels: Uint8Array(N)}.
function loadBlob(blob) {
  if (blob.kind === "model") {
    const flat = b64ToFloat32(blob.weights);
    const arrays = {}, shapes = {};
    let off = 0;
    blob.names.forEach((name, i) => {
      const shape = blob.shapes[i], n = shape.reduce((a, b) => a * b, 1);
      arrays[name] = flat.subarray(off, off + n);
      shapes[name] = shape;
      off += n;
    });
    if (off !== flat.length) throw new Error(`model blob: ${flat.length} floats for ${off} parameters`);
    const dec = new Decoder(blob, arrays, shapes);
    // Warm the JIT up now (once per model, at most ~12 decodes or 0.3 s): the first drag's frames are then as fast
    // as the later ones. The median warm-up decode tells the pad whether this decoder keeps up with the frames.
    const z = new Float32Array(dec.d), times = [];
    for (let i = 0, t0 = performance.now(); i < 12 && (i < 2 || performance.now() - t0 < 300); i++) {
      z.fill(Math.sin(i));
      const t = performance.now();
      dec.decode(z);
      times.push(performance.now() - t);
    }
    dec.decodeMs = times.sort((a, b) => a - b)[times.length >> 1];
    return dec;
  }
  if (blob.kind === "map") return {points: b64ToFloat32(blob.points), labels: b64ToBytes(blob.labels)};
  if (blob.kind === "layer") { // a map layer: an RGBA image over extent [x0, x1, y0, y1], row 0 at the top
    const [w, h] = blob.size, bytes = b64ToBytes(blob.rgba);
    if (bytes.length !== w * h * 4) throw new Error(`layer blob: ${bytes.length} bytes for ${w}x${h}`);
    const c = document.createElement("canvas");
    c.width = w; c.height = h;
    c.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(bytes), w, h), 0, 0);
    return {canvas: c, extent: blob.extent};
  }
  throw new Error(`unknown blob kind ${blob.kind}`);
}

// ------------------------------------------------------------------------------------------- geometry

// Plane coordinates of a code: z itself (d = 2) or its principal-component coordinates (d > 2).
function toPlane(plane, z) {
  if (!plane.components) return [z[0], z[1]];
  const {mean, components: C} = plane, p = [0, 0];
  for (let k = 0; k < 2; k++) for (let i = 0; i < z.length; i++) p[k] += (z[i] - mean[i]) * C[k][i];
  return p;
}

// The code at plane point p, keeping everything of `base` outside the plane (d > 2): base + C^T (p - plane(base)).
function fromPlane(plane, p, base) {
  if (!plane.components) return Float32Array.from([p[0], p[1]]);
  const q = toPlane(plane, base), C = plane.components, z = Float32Array.from(base);
  for (let i = 0; i < z.length; i++) z[i] += (p[0] - q[0]) * C[0][i] + (p[1] - q[1]) * C[1][i];
  return z;
}

function clampZ(z, lo, hi) {
  for (let i = 0; i < z.length; i++) z[i] = Math.min(hi, Math.max(lo, z[i]));
  return z;
}

// ------------------------------------------------------------------------------------------- one pad

class Pad {
  constructor(root, api) {
    this.root = root;
    this.api = api;
    this.el = sel => root.querySelector(sel);
    this.map = this.el("canvas.lp-map");
    this.mapCtx = this.map.getContext("2d");
    this.outputs = this.el(".lp-outputs");
    this.readout = this.el(".lp-readout");
    this.status = this.el(".lp-status");
    this.legend = this.el(".lp-legend");
    this.z = null; this.zRev = null;
    this.dragging = false; this.pending = null; this.raf = 0;
    this.firstEventTs = null;
    this.lastReport = -1e9; this.reportTimer = 0; this.lastSent = "";
    this.stats = {frames: 0, paints: [], handled: [], reports: 0, decodeMs: [], previews: 0, release: []};
    this.linKey = 0; // bumped at every pointerdown: a wide decoder's linearization belongs to one drag
    this.background = null; this.bgKey = "";
    this.tiles = [];
    this.requested = new Set();
    this.listen();
    this.resizer = new ResizeObserver(() => { this.background = null; this.schedule(); });
    this.resizer.observe(this.map);
  }

  listen() {
    const m = this.map;
    m.addEventListener("pointerdown", e => {
      if (!this.ready()) return;
      m.setPointerCapture(e.pointerId);
      m.focus({preventScroll: true});
      this.dragging = true;
      this.dragBase = Float32Array.from(this.z);
      this.linKey++;
      this.move(e);
    });
    m.addEventListener("pointermove", e => { if (this.dragging) this.move(e); });
    const end = e => {
      if (!this.dragging) return;
      this.dragging = false;
      this.move(e);
      this.flushFrame();
      this.stats.release.push(performance.now() - e.timeStamp); // release -> the exact image painted
      this.report(true);
    };
    m.addEventListener("pointerup", end);
    m.addEventListener("pointercancel", end);
    m.addEventListener("keydown", e => {
      const dir = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1]}[e.key];
      if (!dir || !this.ready()) return;
      e.preventDefault();
      if (this.data.path) { // along the path: right/up = towards B, 1 % of the path a step (Shift: 0.1 %)
        const t = this.pending?.t ?? this.t;
        this.pending = {t: t + (dir[0] + dir[1]) * (e.shiftKey ? 0.001 : 0.01)};
        if (this.firstEventTs === null) { this.firstEventTs = e.timeStamp; this.firstHandled = performance.now(); }
        this.schedule();
        this.report("key");
        return;
      }
      const step = e.shiftKey ? FINE_STEP : STEP;
      // Keys faster than frames add up: start from the move not painted yet, if any.
      const p = this.pending ? this.pending.p : toPlane(this.data.plane, this.z);
      const base = this.pending?.base || Float32Array.from(this.z);
      this.pending = {p: [p[0] + dir[0] * step, p[1] + dir[1] * step], base};
      if (this.firstEventTs === null) { this.firstEventTs = e.timeStamp; this.firstHandled = performance.now(); }
      this.schedule();
      this.report("key");
    });
  }

  ready() { return !!(this.data && this.z && this.decoders().length); }

  // Pointer position -> plane coordinates of the map's axes.
  move(e) {
    const r = this.map.getBoundingClientRect(), g = this.geometry(r.width, r.height);
    const px = Math.min(Math.max(e.clientX - r.left, g.left), g.left + g.w);
    const py = Math.min(Math.max(e.clientY - r.top, g.top), g.top + g.h);
    const p = [g.x0 + (px - g.left) / g.w * (g.x1 - g.x0), g.y1 - (py - g.top) / g.h * (g.y1 - g.y0)];
    this.pending = this.data.path ? {t: this.nearestT(p)} : {p, base: this.dragBase};
    if (this.firstEventTs === null) { this.firstEventTs = e.timeStamp; this.firstHandled = performance.now(); }
    this.schedule();
    if (this.dragging && this.data.report_ms > 0) this.report("drag");
  }

  schedule() { if (!this.raf) this.raf = requestAnimationFrame(t => { this.raf = 0; this.frame(); }); }

  flushFrame() { if (this.raf) { cancelAnimationFrame(this.raf); this.raf = 0; } this.frame(); }

  frame() {
    if (!this.ready()) return;
    if (this.pending) {
      const {p, base, t} = this.pending;
      this.pending = null;
      if (t !== undefined) this.setT(t);
      else this.z = clampZ(fromPlane(this.data.plane, p, base || this.z), this.data.low, this.data.high);
    }
    this.paint();
    if (this.firstEventTs !== null) {
      // Event -> painted: both on the performance.now() clock (event.timeStamp is a DOMHighResTimeStamp). It
      // includes the wait for the frame that dispatches the (rAF-aligned) event; handled -> painted does not.
      const now = performance.now();
      this.stats.paints.push(now - this.firstEventTs);
      this.stats.handled.push(now - this.firstHandled);
      if (this.stats.paints.length > 5000) { this.stats.paints.splice(0, 2500); this.stats.handled.splice(0, 2500); }
      this.firstEventTs = null;
    }
  }

  decoders() {
    return (this.data?.models || []).map(m => BLOBS.get(m.version)).filter(Boolean);
  }

  // ---- a path to scrub along (the Interpolate page): z = the path at t in [0, 1], piecewise linear

  setT(t) {
    const P = this.data.path, n = P.length;
    this.t = Math.min(1, Math.max(0, t));
    const f = this.t * (n - 1), i = Math.min(n - 2, Math.floor(f)), w = f - i;
    this.z = Float32Array.from(P[i], (v, k) => v + w * (P[i + 1][k] - v));
    if (this.scrub) this.scrub.value = String(Math.round(this.t * 1000));
  }

  nearestT(p) {
    const P = this.planePath;
    let best = 0, bestD = Infinity;
    for (let i = 0; i + 1 < P.length; i++) { // the closest point of each segment
      const [ax, ay] = P[i], dx = P[i + 1][0] - ax, dy = P[i + 1][1] - ay, L = dx * dx + dy * dy;
      const w = L > 0 ? Math.min(1, Math.max(0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / L)) : 0;
      const ex = ax + w * dx - p[0], ey = ay + w * dy - p[1], dist = ex * ex + ey * ey;
      if (dist < bestD) { bestD = dist; best = (i + w) / (P.length - 1); }
    }
    return best;
  }

  ensureScrub() {
    if (!this.data.path) { this.scrub?.parentElement?.remove(); this.scrub = null; return; }
    if (this.scrub) return;
    const box = document.createElement("label");
    box.className = "lp-scrubbox";
    box.innerHTML = `<span>A</span><input class="lp-scrub" type="range" min="0" max="1000" step="1" value="0"
      aria-label="position along the path from A to B"><span>B</span>`;
    this.root.querySelector(".lp-side").insertBefore(box, this.readout);
    this.scrub = box.querySelector("input");
    this.scrub.setAttribute("aria-label", this.label("scrub", "position along the path from A to B"));
    this.scrub.addEventListener("input", e => {
      this.pending = {t: Number(this.scrub.value) / 1000};
      if (this.firstEventTs === null) { this.firstEventTs = e.timeStamp; this.firstHandled = performance.now(); }
      this.schedule();
    });
  }

  // ---- drawing

  geometry(W, H) {
    const d = this.data, pad = {l: 44, r: 12, t: 12, b: 40};
    const [x0, x1] = d.ranges[0], [y0, y1] = d.ranges[1];
    // Square data units: fit the ranges' aspect in the canvas.
    const aw = W - pad.l - pad.r, ah = H - pad.t - pad.b, sx = aw / (x1 - x0), sy = ah / (y1 - y0), s = Math.min(sx, sy);
    const w = s * (x1 - x0), h = s * (y1 - y0);
    return {left: pad.l + (aw - w) / 2, top: pad.t + (ah - h) / 2, w, h, x0, x1, y0, y1};
  }

  drawBackground(W, H, dpr) {
    const c = document.createElement("canvas");
    c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
    const ctx = c.getContext("2d"), d = this.data, g = this.geometry(W, H);
    ctx.scale(dpr, dpr);
    const X = x => g.left + (x - g.x0) / (g.x1 - g.x0) * g.w, Y = y => g.top + (g.y1 - y) / (g.y1 - g.y0) * g.h;
    const th = this.theme(), fs = d.compact ? 18 : 12; // presenter mode: ticks readable from the back row
    ctx.fillStyle = th.bg; ctx.fillRect(0, 0, W, H);
    ctx.strokeStyle = th.frame; ctx.lineWidth = 1; ctx.strokeRect(g.left, g.top, g.w, g.h);
    // Zero lines and integer ticks.
    ctx.font = `${fs}px sans-serif`; ctx.fillStyle = th.tick; ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (let t = Math.ceil(g.x0); t <= g.x1; t++) {
      ctx.strokeStyle = t === 0 ? th.zero : th.grid; ctx.beginPath(); ctx.moveTo(X(t), g.top); ctx.lineTo(X(t), g.top + g.h); ctx.stroke();
      ctx.fillText(String(t), X(t), g.top + g.h + 4);
    }
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (let t = Math.ceil(g.y0); t <= g.y1; t++) {
      ctx.strokeStyle = t === 0 ? th.zero : th.grid; ctx.beginPath(); ctx.moveTo(g.left, Y(t)); ctx.lineTo(g.left + g.w, Y(t)); ctx.stroke();
      ctx.fillText(String(t), g.left - 6, Y(t));
    }
    ctx.textAlign = "center"; ctx.textBaseline = "bottom"; ctx.fillStyle = th.text; ctx.font = `${fs + 1}px sans-serif`;
    ctx.fillText(d.axis_titles[0], g.left + g.w / 2, H - 2);
    ctx.save(); ctx.translate(fs, g.top + g.h / 2); ctx.rotate(-Math.PI / 2); ctx.textBaseline = "middle";
    ctx.fillText(d.axis_titles[1], 0, 0); ctx.restore();
    // A map layer (sent once as a small image), under the points; smoothed like the Diagnostics heatmap.
    const layer = d.layer && BLOBS.get(d.layer.version);
    if (layer) {
      const [lx0, lx1, ly0, ly1] = layer.extent;
      ctx.save(); ctx.beginPath(); ctx.rect(g.left, g.top, g.w, g.h); ctx.clip();
      ctx.imageSmoothingEnabled = true; ctx.imageSmoothingQuality = "high";
      ctx.drawImage(layer.canvas, X(lx0), Y(ly1), X(lx1) - X(lx0), Y(ly0) - Y(ly1));
      ctx.restore();
    }
    // The encoded test digits, coloured by class.
    const mp = BLOBS.get(d.map.version);
    if (mp) {
      ctx.save(); ctx.beginPath(); ctx.rect(g.left, g.top, g.w, g.h); ctx.clip();
      ctx.globalAlpha = 0.7;
      const r = d.compact ? 3.6 : 3.0, n = d.colors.length;
      for (let c = 0; c < n; c++) { // one fill per class: its colour and its own marker shape
        const shape = shapeOf((d.symbols || [])[c]);
        ctx.fillStyle = d.colors[c]; ctx.beginPath();
        for (let i = 0; i < mp.labels.length; i++) {
          if (mp.labels[i] % n !== c) continue;
          const px = X(mp.points[2 * i]), py = Y(mp.points[2 * i + 1]);
          shape.forEach(([u, v], k) => (k ? ctx.lineTo(px + r * u, py + r * v) : ctx.moveTo(px + r * u, py + r * v)));
          ctx.closePath();
        }
        ctx.fill();
        ctx.globalAlpha = 0.9; ctx.lineWidth = 0.6; ctx.strokeStyle = th.dark ? "#000" : "#fff"; ctx.stroke(); // edges apart
        ctx.globalAlpha = 0.7;
      }
      ctx.restore();
    }
    if (this.planePath) { // the path being scrubbed, A to B
      ctx.strokeStyle = th.ink; ctx.lineWidth = 2.5; ctx.beginPath();
      this.planePath.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
      ctx.stroke();
      ctx.fillStyle = th.ink; ctx.font = `bold ${fs + 3}px sans-serif`; ctx.textAlign = "center"; ctx.textBaseline = "bottom";
      const [a, b] = [this.planePath[0], this.planePath[this.planePath.length - 1]];
      ctx.fillText("A", X(a[0]), Y(a[1]) - 6); ctx.fillText("B", X(b[0]), Y(b[1]) - 6);
    }
    // The prior's +-3 sigma box (in the PCA plane: centred on the prior mean's projection; unit variance there).
    const [cx, cy] = d.prior_centre;
    ctx.setLineDash([6, 4]); ctx.strokeStyle = th.prior; ctx.lineWidth = 1.5;
    ctx.strokeRect(X(cx - 3), Y(cy + 3), X(cx + 3) - X(cx - 3), Y(cy - 3) - Y(cy + 3));
    ctx.setLineDash([]); ctx.fillStyle = th.prior; ctx.font = `${fs}px sans-serif`; ctx.textAlign = "left"; ctx.textBaseline = "top";
    ctx.fillText(this.label("prior", "prior ±3σ"), X(cx - 3) + 4, Y(cy + 3) + 4);
    return c;
  }

  theme() {
    // Streamlit's theme reaches the component as CSS variables: a dark app gets a dark map, not a white box.
    const css = getComputedStyle(this.root), bg = (css.getPropertyValue("--st-background-color") || "").trim();
    const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(bg) || /(\d+)\D+(\d+)\D+(\d+)/.exec(bg);
    const rgb = m ? m.slice(1, 4).map(v => (m[0][0] === "#" ? parseInt(v, 16) : +v)) : [255, 255, 255];
    const dark = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 128;
    return dark
      ? {dark, bg: "#14161c", frame: "#555", grid: "#2a2d36", zero: "#5a5e6a", tick: "#c8c8c8", text: "#e6e6e6",
         ink: "#f2f2f2", prior: "#d0d0d0"}
      : {dark, bg: "#fff", frame: "#ccc", grid: "#eee", zero: "#bbb", tick: "#444", text: "#222",
         ink: "#111", prior: "#444"};
  }

  drawStar(ctx, x, y, r) {
    ctx.beginPath();
    for (let i = 0; i < 10; i++) {
      const a = -Math.PI / 2 + i * Math.PI / 5, rr = i % 2 ? r * 0.45 : r;
      ctx.lineTo(x + rr * Math.cos(a), y + rr * Math.sin(a));
    }
    ctx.closePath(); ctx.fillStyle = "#ffd500"; ctx.fill(); ctx.lineWidth = 2; ctx.strokeStyle = "#000"; ctx.stroke();
  }

  paintMap() {
    const m = this.map, r = m.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    const W = Math.max(1, Math.round(r.width)), H = Math.max(1, Math.round(r.height));
    const lv = this.data.layer ? this.data.layer.version : "";
    const key = `${W}x${H}@${dpr}:${this.data.map.version}:${BLOBS.has(this.data.map.version)}:${lv}:${BLOBS.has(lv)}:` +
      `${this.theme().dark}:` + JSON.stringify([this.data.ranges, this.data.prior_centre]); // the view moves with the star (d > 2)
    if (!this.background || this.bgKey !== key) {
      this.background = this.drawBackground(W, H, dpr); this.bgKey = key;
      m.width = Math.round(W * dpr); m.height = Math.round(H * dpr);
    }
    const ctx = this.mapCtx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.background, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const g = this.geometry(W, H), p = toPlane(this.data.plane, this.z);
    const x = g.left + (p[0] - g.x0) / (g.x1 - g.x0) * g.w, y = g.top + (g.y1 - p[1]) / (g.y1 - g.y0) * g.h;
    this.drawStar(ctx, x, y, 13);
  }

  ensureTiles() {
    const models = this.data.models, decs = models.map(m => BLOBS.get(m.version));
    const key = models.map(m => m.name).join("|") + `:${this.data.show_sample}:` + decs.map(d => d && d.image).join("|");
    if (this.tilesKey === key) return;
    this.tilesKey = key;
    this.outputs.replaceChildren();
    this.tiles = models.map((m, k) => {
      const [H, W, C] = (decs[k] && decs[k].image) || [28, 28, 1];
      const tile = document.createElement("div");
      tile.className = "lp-tile";
      tile.innerHTML = `<div class="lp-title"></div><canvas class="lp-probs" width="${W}" height="${H}"></canvas>` +
        (this.data.show_sample ? `<div class="lp-sub"></div><canvas class="lp-sample" width="${W}" height="${H}"></canvas>` : "");
      const bernoulli = !decs[k] || decs[k].mean.op === "sigmoid";
      tile.querySelector(".lp-title").textContent = models.length > 1 ? m.name : bernoulli ? "p(pixel = 1 | z)" : "E[x | z]";
      const sub = tile.querySelector(".lp-sub");
      if (sub) sub.textContent = this.label("sample", "a sample x ~ p(x | z)");
      this.outputs.appendChild(tile);
      const probs = tile.querySelector(".lp-probs"), sample = tile.querySelector(".lp-sample");
      return {probs, pctx: probs.getContext("2d"), sample, sctx: sample && sample.getContext("2d"), H, W, C,
              img: new ImageData(W, H), simg: new ImageData(W, H), draw: new Float32Array(H * W * C)};
    });
    this.outputs.dataset.count = String(models.length);
  }

  noise(n) {
    // Fixed uniform noise per seed (mulberry32): the sample is a fixed function of u and z, so it changes
    // smoothly as z moves.
    if (this.noiseSeed === this.data.seed && this.u && this.u.length >= n) return this.u;
    let a = (this.data.seed * 2654435761) >>> 0;
    const u = new Float32Array(Math.max(n, 784));
    for (let i = 0; i < u.length; i++) {
      a = (a + 0x6D2B79F5) >>> 0; let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      u[i] = Math.min(1 - 1e-6, Math.max(1e-6, ((t ^ (t >>> 14)) >>> 0) / 4294967296));
    }
    this.noiseSeed = this.data.seed; this.u = u;
    return u;
  }

  // Values in [0, 1] (HWC) -> the tile's ImageData: grey for one channel, RGB for three.
  static fill(img, v, C) {
    const px = img.data, n = px.length >> 2;
    for (let i = 0; i < n; i++) {
      if (C === 1) px[4 * i] = px[4 * i + 1] = px[4 * i + 2] = Math.round(255 * v[i]);
      else { px[4 * i] = Math.round(255 * v[3 * i]); px[4 * i + 1] = Math.round(255 * v[3 * i + 1]); px[4 * i + 2] = Math.round(255 * v[3 * i + 2]); }
      px[4 * i + 3] = 255;
    }
  }

  // A decoder too slow for every frame (a 512-wide network: its warm-up decode above SLOW_MS) paints, while the
  // point is dragged, the exact linearization around the code where the drag started (Decoder.linearize), and
  // decodes exactly on release. Directions: the plane the pad moves in.
  planeDirs() {
    const C = this.data.plane.components;
    if (C) return C.map(row => Float32Array.from(row));
    return [0, 1].map(k => Float32Array.from({length: this.z.length}, (_, i) => (i === k ? 1 : 0)));
  }

  slow(dec) { return dec.decodeMs > slowMs() && !this.data.path; }

  // The linearization of `dec` at z in the pad's plane: reused while it is still for that code and plane.
  linearization(dec, z) {
    const dirs = this.planeDirs(), key = Array.from(z).join() + "|" + dirs.map(d => d.join()).join("|");
    if (dec.linKey !== key) { dec.lin = dec.linearize(z, dirs); dec.linKey = key; }
    return dec.lin;
  }

  image(dec) {
    if (this.dragging && this.slow(dec)) {
      const p = dec.preview(this.linearization(dec, this.dragBase), this.z);
      if (p) return [p, true];
    }
    return [dec.decode(this.z), false];
  }

  // After an exact image of a slow decoder, linearize there once the point rests (400 ms without a new image, so
  // held arrow keys are not slowed down): the next drag then starts at once.
  prepareDrag(decs) {
    clearTimeout(this.linTimer);
    this.linTimer = setTimeout(() => {
      if (this.dragging || !this.ready()) return;
      for (const dec of decs) if (dec && this.slow(dec)) this.linearization(dec, this.z);
    }, 400);
  }

  paint() {
    this.paintMap();
    this.ensureTiles();
    const decs = this.data.models.map(m => BLOBS.get(m.version));
    decs.forEach((dec, k) => {
      const t = this.tiles[k];
      if (!dec || !t) return;
      const t0 = performance.now();
      const [p, preview] = this.image(dec);
      if (k === 0) { this.stats.decodeMs.push(performance.now() - t0); if (this.stats.decodeMs.length > 5000) this.stats.decodeMs.splice(0, 2500); }
      t.probs.dataset.preview = preview ? "1" : "0";
      if (k === 0) this.stats.previews += preview ? 1 : 0;
      if (!preview && !this.dragging && this.slow(dec)) this.prepareDrag(decs);
      Pad.fill(t.img, p, t.C);
      t.pctx.putImageData(t.img, 0, 0);
      if (this.data.show_sample && t.sctx) {
        Pad.fill(t.simg, dec.sampleImage(this.noise(p.length), t.draw), t.C);
        t.sctx.putImageData(t.simg, 0, 0);
      }
    });
    this.stats.frames++;
    const zs = Array.from(this.z, v => v.toFixed(2)).join(", ");
    this.readout.textContent = `z = (${zs})`;
    this.map.setAttribute("aria-valuetext", this.readout.textContent);
    this.root.dataset.z = Array.from(this.z, v => v.toFixed(4)).join(",");
    this.root.dataset.frames = String(this.stats.frames);
  }

  // ---- talking to Python

  report(final) {
    if (this.data.report === false) return; // a view Python does not need to hear from (the scrubber)
    const send = () => {
      clearTimeout(this.reportTimer); this.reportTimer = 0;
      if (this.pending || this.raf) this.flushFrame(); // report the code that is on screen
      const z = Array.from(this.z, v => Math.round(v * 1e4) / 1e4), s = z.join(",");
      if (s === this.lastSent) return;
      this.lastSent = s; this.lastReport = performance.now(); this.stats.reports++;
      this.api.setStateValue("z", z);
    };
    if (final === true) return send();
    if (final === "key") { clearTimeout(this.reportTimer); this.reportTimer = setTimeout(send, KEY_DEBOUNCE_MS); return; }
    const wait = this.data.report_ms - (performance.now() - this.lastReport); // throttled drag reports
    if (wait <= 0) send();
    else if (!this.reportTimer) this.reportTimer = setTimeout(send, wait);
  }

  // A user-visible text in the page's language (Python sends them translated; English if absent).
  label(name, english) {
    const text = this.data && this.data.labels && this.data.labels[name];
    return typeof text === "string" && text ? text : english;
  }

  update(data, api) {
    this.api = api;
    const first = !this.data;
    this.data = data;
    this.root.classList.toggle("lp-compact", !!data.compact); // presenter mode: the whole pad fits 1280x720
    const progressed = new Set();
    for (const [version, blob] of Object.entries(data.blobs || {})) {
      if (BLOBS.has(version)) continue;
      try {
        if (blob.kind === "part") { // a piece of a big decoder (a 512-wide one): one piece per message
          progressed.add(blob.of);
          const got = PARTS.get(blob.of) || [];
          got[blob.index] = blob;
          PARTS.set(blob.of, got);
          if (got.filter(Boolean).length === blob.count && !BLOBS.has(blob.of)) {
            PARTS.delete(blob.of);
            BLOBS.set(blob.of, loadBlob({...got[0].meta, weights: got.map(p => p.chars).join("")}));
          }
        } else BLOBS.set(version, loadBlob(blob));
      } catch (err) { this.status.textContent = `Could not load ${version}: ${err.message}`; console.error(err); }
    }
    const missing = [data.map.version, ...data.models.map(m => m.version), ...(data.layer ? [data.layer.version] : [])]
      .filter(v => !BLOBS.has(v));
    // Ask for what is missing: once, or again after each piece of a decoder sent in pieces (the next one).
    const ask = missing.filter(v => !this.requested.has(v) || progressed.has(v));
    if (ask.length) { ask.forEach(v => this.requested.add(v)); api.setTriggerValue("need", ask); }
    this.el(".lp-help").textContent = this.label("help", this.el(".lp-help").textContent);
    this.map.setAttribute("aria-label", this.label("map", this.map.getAttribute("aria-label")));
    this.status.textContent = missing.length ? this.label("loading", "Loading the decoder…") : "";
    this.planePath = data.path ? data.path.map(z => toPlane(data.plane, z)) : null;
    this.ensureScrub();
    // Python moved z (URL, sliders, reset, a new path): adopt it, unless the user is dragging right now.
    if ((this.zRev !== data.z_rev || !this.z || this.z.length !== data.z.length) && !this.dragging) {
      this.z = Float32Array.from(data.z); this.zRev = data.z_rev;
      if (data.path) this.setT(data.t || 0);
      this.lastSent = Array.from(this.z, v => Math.round(v * 1e4) / 1e4).join(",");
    }
    if (first || !this.legend.childElementCount || this.legendKey !== data.names.join()) {
      this.legendKey = data.names.join();
      this.legend.replaceChildren(...data.names.map((n, i) => {
        const s = document.createElement("span");
        s.innerHTML = markerSVG((data.symbols || [])[i % data.colors.length], data.colors[i % data.colors.length]);
        s.append(String(n));
        return s;
      }));
    }
    this.background = null;
    if (this.ready()) this.paint();
  }

  // Client (CSS pixel) coordinates of plane point p on the map, and the painted probabilities as 0..255 bytes:
  // for tests and the benchmark, which drive the pad with real input events.
  clientOf(p) {
    const r = this.map.getBoundingClientRect(), g = this.geometry(r.width, r.height);
    return [r.left + g.left + (p[0] - g.x0) / (g.x1 - g.x0) * g.w, r.top + g.top + (g.y1 - p[1]) / (g.y1 - g.y0) * g.h];
  }

  planePoint() { return toPlane(this.data.plane, this.z); }

  pixels(k = 0, which = "probs") {
    const t = this.tiles[k], ctx = which === "sample" ? t.sctx : t.pctx;
    return Array.from(ctx.getImageData(0, 0, t.W, t.H).data.filter((_, i) => i % 4 === 0));
  }

  destroy() {
    this.resizer.disconnect();
    clearTimeout(this.linTimer);
    if (this.raf) cancelAnimationFrame(this.raf);
    clearTimeout(this.reportTimer);
  }
}

// ------------------------------------------------------------------------------------------- test/bench hooks

// Evaluated by tests/test_latent_pad.py and bench/latent_drag.py through Playwright: the very decoder the pad uses.
G.__cvaeLatentPad = {
  Decoder, loadBlob, BLOBS, INSTANCES,
  decodeWith(blob, codes) { // blob as Python's latent_pad.model_blob makes it; codes: array of arrays
    const dec = loadBlob(blob);
    return codes.map(z => Array.from(dec.decode(Float32Array.from(z))));
  },
  previewWith(blob, z0, dirs, codes) { // the drag preview of a wide decoder: linearized at z0 along dirs
    const dec = loadBlob(blob), lin = dec.linearize(Float32Array.from(z0), dirs.map(d => Float32Array.from(d)));
    return codes.map(z => { const p = dec.preview(lin, Float32Array.from(z)); return p && Array.from(p); });
  },
  decodeVersion(version, codes) {
    const dec = BLOBS.get(version);
    return dec ? codes.map(z => Array.from(dec.decode(Float32Array.from(z)))) : null;
  },
  pads() { return [...INSTANCES.values()]; },
};

// ------------------------------------------------------------------------------------------- Streamlit entry

export default function (component) {
  const {parentElement, data, key} = component;
  const root = parentElement.querySelector(".lp-root");
  let pad = INSTANCES.get(key);
  if (!pad || pad.root !== root) {
    pad?.destroy();
    pad = new Pad(root, component);
    INSTANCES.set(key, pad);
  }
  // Streamlit calls this module again on every rerun with the new data (same parentElement): update in place.
  pad.update(data, component);
  return () => { pad.destroy(); if (INSTANCES.get(key) === pad) INSTANCES.delete(key); };
}
