package adept.nn;

import adept.tensor.Tensor;
import adept.tensor.Torch;

/**
 * A low-rank adapter on one projection (LoRA, Hu et al. 2021), computed as PEFT computes it:
 * {@code y = x W^T + b + scale * (dropout(x) A^T) B^T}, A [r, in], B [out, r], scale = alpha / r (PEFT's scaling).
 * The base weight stays untouched; the adapter owns A and B.
 */
public final class LoraAdapter implements AutoCloseable {
    private final Tensor a;
    private final Tensor b;
    private final double alpha;
    private final double scale;
    private final double dropout;

    /** Takes ownership of a [r, in] and b [out, r]; dropout (on the adapter's input) applies only while autograd records. */
    public LoraAdapter(Tensor a, Tensor b, double alpha, double dropout) {
        if (a.dim() != 2 || b.dim() != 2 || a.size(0) != b.size(1)) {
            throw new ModelException("LoRA adapter: A must be [r, in] and B [out, r], got " + java.util.Arrays.toString(a.shape())
                    + " and " + java.util.Arrays.toString(b.shape()));
        }
        if (!(dropout >= 0 && dropout < 1)) throw new ModelException("LoRA dropout must be in [0, 1), got " + dropout);
        if (!(alpha > 0) || !Double.isFinite(alpha)) throw new ModelException("LoRA alpha must be > 0, got " + alpha);
        this.a = a;
        this.b = b;
        this.alpha = alpha;
        this.scale = alpha / a.size(0);
        this.dropout = dropout;
    }

    /** The down projection A [r, in] (PEFT's lora_A.weight). */
    public Tensor a() {
        return a;
    }

    /** The up projection B [out, r] (PEFT's lora_B.weight), zero at initialisation. */
    public Tensor b() {
        return b;
    }

    /** alpha (lora_alpha). */
    public double alpha() {
        return alpha;
    }

    /** alpha / r. */
    public double scale() {
        return scale;
    }

    /** Dropout probability on the adapter's input while training. */
    public double dropout() {
        return dropout;
    }

    /** r. */
    public int rank() {
        return (int) a.size(0);
    }

    /** base (the projection's own output for x) plus the adapter's contribution. */
    public Tensor addTo(Tensor base, Tensor x) {
        // Dropout only while autograd records: evaluation and generation run under no-grad and see the whole adapter.
        Tensor in = dropout > 0 && Torch.isGradEnabled() ? x.dropout(dropout, true) : x;
        return base.add(in.linear(a, null).linear(b, null).mul(scale));
    }

    /** The weight change the adapter stands for, scale * B A [out, in], in dtype (float64 keeps a merge exact to the last bit of the weight). */
    public Tensor delta(adept.tensor.DType dtype) {
        return b.to(dtype).matmul(a.to(dtype)).mul(scale);
    }

    @Override
    public void close() {
        a.close();
        b.close();
    }
}
