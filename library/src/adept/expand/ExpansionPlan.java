package adept.expand;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * Which layers get an identity copy inserted right after them. Layers are then renumbered:
 * with M=28 and sources 22, 23, 25, 27 the model has 32 layers, the copies at 23, 25, 28, 31.
 *
 * @param originalLayers M, the layer count before expansion
 * @param sources        the copied layers, ascending, no repeats, each in 0..M-1
 * @param method         how they were chosen ("lowest-dL", "explicit", "llama-pro")
 * @param reason         a sentence for the user on why these layers (and this K)
 */
public record ExpansionPlan(int originalLayers, List<Integer> sources, String method, String reason) {
    public ExpansionPlan {
        if (originalLayers <= 0) throw new ExpansionException("the model has no layers to expand");
        if (sources.isEmpty()) throw new ExpansionException("no layer to copy: K must be >= 1");
        if (sources.size() > originalLayers) {
            throw new ExpansionException("K = " + sources.size() + " exceeds the model's " + originalLayers + " layers");
        }
        TreeSet<Integer> seen = new TreeSet<>();
        for (int s : sources) {
            if (s < 0 || s >= originalLayers) throw new ExpansionException("layer " + s + " is out of range 0.." + (originalLayers - 1));
            if (!seen.add(s)) throw new ExpansionException("layer " + s + " is listed twice");
        }
        sources = List.copyOf(seen);
    }

    /** K, the number of copies. */
    public int k() {
        return sources.size();
    }

    /** The layer count after expansion, M + K. */
    public int expandedLayers() {
        return originalLayers + sources.size();
    }

    /** For every layer of the expanded model, the original layer it is (or copies). */
    public int[] sourceOfEachLayer() {
        int[] out = new int[expandedLayers()];
        int at = 0;
        for (int l = 0; l < originalLayers; l++) {
            out[at++] = l;
            if (sources.contains(l)) out[at++] = l;
        }
        return out;
    }

    /** Indices of the copies in the expanded model, ascending. */
    public List<Integer> copyIndices() {
        List<Integer> out = new ArrayList<>();
        int at = 0;
        for (int l = 0; l < originalLayers; l++) {
            at++;
            if (sources.contains(l)) out.add(at++);
        }
        return out;
    }
}
