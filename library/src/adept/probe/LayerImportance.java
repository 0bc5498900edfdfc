package adept.probe;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Result of probing: dL[l] = L(model without layer l) - L(model) on the probe corpus,
 * where L is the mean next-token cross-entropy over real target tokens.
 */
public record LayerImportance(double baseLoss, double[] skipLoss, long targetTokens) {
    /** dL per layer; may be negative (the layer hurts general loss). */
    public double[] deltas() {
        double[] d = new double[skipLoss.length];
        for (int l = 0; l < d.length; l++) d[l] = skipLoss[l] - baseLoss;
        return d;
    }

    /** dL min-max normalised to [0, 1] (all zeros when every layer scores the same). */
    public double[] normalized() {
        double[] d = deltas();
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        for (double v : d) {
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        double[] out = new double[d.length];
        for (int l = 0; l < d.length; l++) out[l] = max > min ? (d[l] - min) / (max - min) : 0;
        return out;
    }

    /** The k least important layers (smallest dL; ties go to the lower index), in ascending index order. */
    public List<Integer> lowest(int k) {
        double[] d = deltas();
        if (k <= 0 || k > d.length) throw new IllegalArgumentException("K must be in 1.." + d.length + ", got " + k);
        List<Integer> order = new ArrayList<>();
        for (int l = 0; l < d.length; l++) order.add(l);
        order.sort(Comparator.<Integer>comparingDouble(l -> d[l]).thenComparingInt(l -> l));
        List<Integer> picked = new ArrayList<>(order.subList(0, k));
        picked.sort(Integer::compare);
        return picked;
    }
}
