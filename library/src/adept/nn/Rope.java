package adept.nn;

import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;

/**
 * Rotary position embeddings, Hugging Face style: cos/sin tables [T, headDim] whose two
 * halves repeat the same frequencies, applied as x*cos + rotate_half(x)*sin. Tables are
 * computed in double precision and kept per (length, dtype, device).
 */
public final class Rope implements AutoCloseable {
    private final double[] inverseFrequencies;
    private final int headDim;
    private Tensor cos;
    private Tensor sin;
    private long cachedLength = -1;
    private DType cachedDType;
    private Device cachedDevice;

    /** The rotary embedding of config's head size, theta and scaling; tables are built on first use. */
    public Rope(ModelConfig config) {
        this(config.headDim(), config.ropeTheta(), config.ropeScaling());
    }

    /** The rotary embedding of sliding-window layers: their own base (Gemma 3's rope_local_base_freq), no scaling. */
    static Rope local(ModelConfig config) {
        return new Rope(config.headDim(), config.localRopeTheta(), null);
    }

    private Rope(int headDim, double theta, RopeScaling scaling) {
        this.headDim = headDim;
        this.inverseFrequencies = inverseFrequencies(headDim, theta, scaling);
    }

    static double[] inverseFrequencies(ModelConfig config) {
        return inverseFrequencies(config.headDim(), config.ropeTheta(), config.ropeScaling());
    }

    static double[] inverseFrequencies(int headDim, double theta, RopeScaling s) {
        int half = headDim / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) inv[i] = 1.0 / Math.pow(theta, (2.0 * i) / headDim);
        if (s == null) return inv;
        // Llama 3: long wavelengths slowed by `factor`, short ones kept, a smooth blend between.
        double lowFreqWavelen = s.originalMaxPositionEmbeddings() / s.lowFreqFactor();
        double highFreqWavelen = s.originalMaxPositionEmbeddings() / s.highFreqFactor();
        for (int i = 0; i < half; i++) {
            double wavelen = 2 * Math.PI / inv[i];
            if (wavelen > lowFreqWavelen) {
                inv[i] = inv[i] / s.factor();
            } else if (wavelen >= highFreqWavelen) {
                double smooth = (s.originalMaxPositionEmbeddings() / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
                inv[i] = (1 - smooth) * inv[i] / s.factor() + smooth * inv[i];
            }
        }
        return inv;
    }

    /** Rotates x [B, heads, T, headDim] by positions 0..T-1. */
    public Tensor apply(Tensor x) {
        return apply(x, 0);
    }

    /** Rotates x [B, heads, T, headDim] by positions offset..offset+T-1. */
    public Tensor apply(Tensor x, long offset) {
        long length = x.size(2);
        ensureTables(offset + length, x.dtype(), x.device());
        Tensor c = cos.narrow(0, offset, length);
        Tensor s = sin.narrow(0, offset, length);
        return x.rotary(c, s);
    }

    private void ensureTables(long length, DType dtype, Device device) {
        if (length <= cachedLength && dtype == cachedDType && device.equals(cachedDevice)) return;
        close();
        long rows = Math.max(length, 64);
        double[] cosValues = new double[(int) (rows * headDim)];
        double[] sinValues = new double[cosValues.length];
        int half = headDim / 2;
        for (int t = 0; t < rows; t++) {
            for (int i = 0; i < half; i++) {
                double angle = t * inverseFrequencies[i];
                double c = Math.cos(angle);
                double s = Math.sin(angle);
                int base = t * headDim;
                cosValues[base + i] = c;
                cosValues[base + half + i] = c;
                sinValues[base + i] = s;
                sinValues[base + half + i] = s;
            }
        }
        try (Scope scope = Scope.open()) {
            cos = Tensor.of(cosValues, rows, headDim).to(dtype, device).keep();
            sin = Tensor.of(sinValues, rows, headDim).to(dtype, device).keep();
        }
        cachedLength = rows;
        cachedDType = dtype;
        cachedDevice = device;
    }

    @Override
    public void close() {
        if (cos != null) cos.close();
        if (sin != null) sin.close();
        cos = null;
        sin = null;
        cachedLength = -1;
    }
}
