package adept.nn;

import adept.tensor.Tensor;
import java.util.List;

/**
 * Keys and values of the tokens seen so far, per layer, for incremental decoding: each new
 * token attends to the cached ones instead of recomputing the whole prefix. One sequence
 * (batch of one); the cache owns its tensors.
 */
public final class KvCache implements AutoCloseable {
    /** One layer's keys and values [B, kv heads, T, head_dim], after rotary embeddings. */
    public static final class Slot {
        private Tensor keys;
        private Tensor values;

        /** Appends the new tokens' keys and values; returns all of them (owned by the cache). */
        Tensor[] append(Tensor newKeys, Tensor newValues) {
            keys = grow(keys, newKeys);
            values = grow(values, newValues);
            return new Tensor[] {keys, values};
        }

        private static Tensor grow(Tensor past, Tensor fresh) {
            Tensor all = past == null ? fresh.contiguous() : Tensor.cat(List.of(past, fresh), 2);
            all.keep();
            if (past != null) past.close();
            return all;
        }

        void close() {
            if (keys != null) keys.close();
            if (values != null) values.close();
            keys = null;
            values = null;
        }
    }

    private final Slot[] slots;
    private long length;

    /** An empty cache for a model of layers layers. */
    public KvCache(int layers) {
        slots = new Slot[layers];
        for (int i = 0; i < layers; i++) slots[i] = new Slot();
    }

    /** Tokens cached so far: the position of the next token. */
    public long length() {
        return length;
    }

    Slot slot(int layer) {
        return slots[layer];
    }

    void advance(long tokens) {
        length += tokens;
    }

    @Override
    public void close() {
        for (Slot s : slots) s.close();
        length = 0;
    }
}
