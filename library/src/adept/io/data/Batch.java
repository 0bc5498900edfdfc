package adept.io.data;

import adept.tensor.Device;
import adept.tensor.Tensor;
import java.util.List;

/**
 * A right-padded batch: inputIds [B, T], attentionMask [B, T] (1 = token), labels [B, T]
 * (the id where the token is a target, {@link Tensor#IGNORE_INDEX} elsewhere, padding included). For losses that
 * need logits only where a target is predicted: predictingRows [N] indexes the flattened
 * [B*T] positions whose next token is a target, and predictedIds [N] are those targets.
 * Tensors belong to the scope open when it is made.
 */
public record Batch(Tensor inputIds, Tensor attentionMask, Tensor labels, long targetTokens,
                    Tensor predictingRows, Tensor predictedIds) {
    /** The examples right-padded with padId into one batch on device. */
    public static Batch of(List<Example> examples, long padId, Device device) {
        int rows = examples.size();
        int length = 0;
        for (Example e : examples) length = Math.max(length, e.length());
        long[] ids = new long[rows * length];
        long[] mask = new long[rows * length];
        long[] labels = new long[rows * length];
        java.util.Arrays.fill(ids, padId);
        java.util.Arrays.fill(labels, Tensor.IGNORE_INDEX);
        int targets = 0;
        for (Example e : examples) targets += (int) e.targetCount();
        long[] predictingRows = new long[targets];
        long[] predictedIds = new long[targets];
        int n = 0;
        for (int r = 0; r < rows; r++) {
            Example e = examples.get(r);
            for (int t = 0; t < e.length(); t++) {
                int at = r * length + t;
                ids[at] = e.ids()[t];
                mask[at] = 1;
                if (t > 0 && e.targets()[t]) {
                    labels[at] = e.ids()[t];
                    predictingRows[n] = at - 1;
                    predictedIds[n++] = e.ids()[t];
                }
            }
        }
        return new Batch(Tensor.of(ids, rows, length).to(device), Tensor.of(mask, rows, length).to(device),
                Tensor.of(labels, rows, length).to(device), targets,
                Tensor.of(predictingRows).to(device), Tensor.of(predictedIds).to(device));
    }
}
