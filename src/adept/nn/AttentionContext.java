package adept.nn;

import adept.tensor.DType;
import adept.tensor.Tensor;

/**
 * What every layer's attention shares for one batch: the rotary tables and the additive
 * mask (0 where attention is allowed, the dtype's lowest value where a key is in the
 * future or padding, as Hugging Face's eager attention builds it), shaped [B*heads or 1,
 * T, T] to add to batched attention scores.
 */
public final class AttentionContext {
    private final Rope rope;
    private final Tensor mask;
    private final DType dtype;
    private final long positionOffset;

    private AttentionContext(Rope rope, Tensor mask, DType dtype, long positionOffset) {
        this.rope = rope;
        this.mask = mask;
        this.dtype = dtype;
        this.positionOffset = positionOffset;
    }

    private static double lowest(DType dtype) {
        return switch (dtype) {
            case FLOAT64 -> -Double.MAX_VALUE;
            case FLOAT32 -> -Float.MAX_VALUE;
            case BFLOAT16 -> -3.3895313892515355e38;
            case FLOAT16 -> -65504.0;
            default -> throw new ModelException("compute dtype must be floating point, got " + dtype);
        };
    }

    /**
     * For newLength tokens following `past` cached ones (incremental decoding, one
     * sequence): new token i may attend to every cached token and to new tokens up to i.
     */
    public static AttentionContext incremental(Rope rope, long past, long newLength, DType dtype, adept.tensor.Device device) {
        long total = past + newLength;
        Tensor future = Tensor.ones(DType.BOOL, device, newLength, total).triu(past + 1);
        Tensor mask = Tensor.zeros(dtype, device, 1, newLength, total).maskedFill(future, lowest(dtype));
        return new AttentionContext(rope, mask, dtype, past);
    }

    /**
     * attentionMask: [B, T] with 1 for real tokens and 0 for padding, or null for none.
     * The mask tensor belongs to the current scope.
     */
    public static AttentionContext build(Rope rope, long length, Tensor attentionMask, DType dtype, adept.tensor.Device device,
                                         int heads) {
        double lowest = lowest(dtype);
        Tensor future = Tensor.ones(DType.BOOL, device, length, length).triu(1);
        Tensor mask = Tensor.zeros(dtype, device, 1, 1, length, length).maskedFill(future, lowest);
        if (attentionMask != null) {
            if (attentionMask.dim() != 2 || attentionMask.size(1) != length) {
                throw new ModelException("attention mask must be [batch, " + length + "], got " + java.util.Arrays.toString(attentionMask.shape()));
            }
            long batch = attentionMask.size(0);
            Tensor padding = attentionMask.eq(0).unsqueeze(1).unsqueeze(1);  // [B, 1, 1, T]
            // Materialised once per batch, not per layer: [B*heads, T, T].
            mask = mask.maskedFill(padding, lowest).expand(batch, heads, length, length).reshape(batch * heads, length, length);
        } else {
            mask = mask.view(1, length, length);
        }
        return new AttentionContext(rope, mask, dtype, 0);
    }

    /** Position of the first token of this pass (0 unless decoding incrementally). */
    public long positionOffset() {
        return positionOffset;
    }

    /** The rotary embedding of the positions. */
    public Rope rope() {
        return rope;
    }

    /** The additive attention mask: 0 where a query may attend to a key, the dtype's lowest value elsewhere. */
    public Tensor mask() {
        return mask;
    }

    /** The dtype attention computes in. */
    public DType dtype() {
        return dtype;
    }
}
