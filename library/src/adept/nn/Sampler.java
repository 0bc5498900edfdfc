package adept.nn;

import java.util.Arrays;
import java.util.Random;

/** Picks the next token from logits: greedy when temperature is 0, else temperature + nucleus (top-p) sampling. */
public final class Sampler {
    private final double temperature;
    private final double topP;
    private final Random random;

    /** Sampling at temperature (0: greedy) from the top-p nucleus, seeded. */
    public Sampler(double temperature, double topP, long seed) {
        if (temperature < 0) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        this.temperature = temperature;
        this.topP = topP;
        this.random = new Random(seed);
    }

    /** Always the most likely token (temperature 0). */
    public static Sampler greedy() {
        return new Sampler(0, 1, 0);
    }

    /** The next token id from one position's logits: argmax at temperature 0, else a draw from the top-p nucleus of softmax(logits / temperature). */
    public int next(float[] logits) {
        if (temperature == 0) return argmax(logits);
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double[] probabilities = new double[logits.length];
        double total = 0;
        for (int i = 0; i < logits.length; i++) {
            probabilities[i] = Math.exp((logits[i] - max) / temperature);
            total += probabilities[i];
        }
        Integer[] order = new Integer[logits.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Double.compare(probabilities[b], probabilities[a]));
        // Smallest set of most likely tokens whose mass reaches top-p, renormalised.
        double kept = 0;
        int count = 0;
        while (count < order.length && (count == 0 || kept / total < topP)) kept += probabilities[order[count++]];
        double r = random.nextDouble() * kept;
        for (int i = 0; i < count; i++) {
            r -= probabilities[order[i]];
            if (r <= 0) return order[i];
        }
        return order[count - 1];
    }

    static int argmax(float[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}
