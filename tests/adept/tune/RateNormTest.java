package adept.tune;

import static org.junit.jupiter.api.Assertions.*;

import adept.optim.RateStats;
import org.junit.jupiter.api.Test;

/** rate_norm: global (the paper's), per-kind and mean, checked against hand-computed multipliers. */
class RateNormTest {
    // Two matrices (100 and 300 elements) and two norm vectors (10 elements each); the norms carry the largest importances.
    static final double[] IMPORTANCE = {1, 3, 20, 40};
    static final long[] ELEMENTS = {100, 300, 10, 10};
    static final boolean[] VECTOR = {false, false, true, true};

    static RatePolicy continuous(RateNorm norm) {
        return RatePolicy.CONTINUOUS.withNorm(norm);
    }

    @Test
    void globalIsThePapersMapOverAllUnits() {
        double[] w = continuous(RateNorm.GLOBAL).assign(IMPORTANCE, ELEMENTS, VECTOR).multipliers();
        // w = 2 (40 - I) / (40 - 1)
        assertArrayEquals(new double[] {2.0, 2 * 37 / 39.0, 2 * 20 / 39.0, 0.0}, w, 1e-15);
        // the mean the issue measured: the matrices carry the elements, so it sits near 2
        double mean = (100 * 2.0 + 300 * 74 / 39.0 + 10 * 40 / 39.0 + 0) / 420;
        assertEquals(mean, weightedMean(w, ELEMENTS), 1e-15);
        assertTrue(mean > 1.8);
    }

    @Test
    void perKindMapsMatricesAndVectorsWithinTheirOwnRange() {
        double[] w = continuous(RateNorm.PER_KIND).assign(IMPORTANCE, ELEMENTS, VECTOR).multipliers();
        // matrices: 2 (3 - I) / (3 - 1); vectors: 2 (40 - I) / (40 - 20)
        assertArrayEquals(new double[] {2.0, 0.0, 2.0, 0.0}, w, 1e-15);
        // a kind without spread keeps the base rate while the other is mapped
        double[] flat = continuous(RateNorm.PER_KIND).assign(new double[] {5, 5, 1, 9}, ELEMENTS, VECTOR).multipliers();
        assertArrayEquals(new double[] {1.0, 1.0, 2.0, 0.0}, flat, 1e-15);
    }

    @Test
    void meanRescalesTheGlobalMapToAnElementWeightedMeanOfOne() {
        double[] w = continuous(RateNorm.MEAN).assign(IMPORTANCE, ELEMENTS, VECTOR).multipliers();
        double[] global = {2.0, 2 * 37 / 39.0, 2 * 20 / 39.0, 0.0};
        double scale = 420 / (100 * global[0] + 300 * global[1] + 10 * global[2] + 10 * global[3]);
        for (int i = 0; i < w.length; i++) assertEquals(global[i] * scale, w[i], 1e-14, "unit " + i);
        assertEquals(1.0, weightedMean(w, ELEMENTS), 1e-14);
        // the ordering (and ratios) of the paper's map are kept
        assertEquals(global[1] / global[0], w[1] / w[0], 1e-14);
    }

    @Test
    void meanCountsFrozenUnitsAsZeroAndSplitIsRescaledToo() {
        RatePolicy mask = new RatePolicy(RateMode.MASK, 0.5, 1, 1, RateNorm.MEAN);
        RatePolicy.Assignment a = mask.assign(IMPORTANCE, ELEMENTS, VECTOR);
        // quantile 0.5 of {1, 3, 20, 40} = 11.5: units 2 and 3 frozen; the rest scaled by 420 / 400
        assertArrayEquals(new boolean[] {false, false, true, true}, a.frozen());
        assertEquals(420 / 400.0, a.multipliers()[0], 1e-15);
        RatePolicy split = new RatePolicy(RateMode.SPLIT, 0.5, 0.1, 1.0, RateNorm.MEAN);
        double[] w = split.assign(IMPORTANCE, ELEMENTS, VECTOR).multipliers();
        double scale = 420 / (400 * 1.0 + 20 * 0.1);
        assertArrayEquals(new double[] {scale, scale, 0.1 * scale, 0.1 * scale}, w, 1e-14);
    }

    @Test
    void noInformationStaysUniformInEveryNormalisation() {
        for (RateNorm norm : RateNorm.values()) {
            double[] w = continuous(norm).assign(new double[4], ELEMENTS, VECTOR).multipliers();
            assertArrayEquals(new double[] {1, 1, 1, 1}, w, 0.0, norm.label());
        }
    }

    @Test
    void statsWeighEveryElementOnce() {
        double[] perElement = new double[420];
        java.util.Arrays.fill(perElement, 0, 100, 2.0);
        java.util.Arrays.fill(perElement, 100, 400, 0.25);
        java.util.Arrays.fill(perElement, 400, 420, 1.0);
        RateStats s = RateStats.of(perElement);
        assertEquals((200 + 75 + 20) / 420.0, s.mean(), 1e-15);
        assertEquals(0.25, s.min());
        assertEquals(2.0, s.max());
        assertEquals(300 / 420.0, s.belowHalf(), 1e-15);
        assertEquals(100 / 420.0, s.aboveOneAndHalf(), 1e-15);
    }

    @Test
    void parsesTheThreeNames() {
        assertEquals(RateNorm.PER_KIND, RateNorm.parse("per-kind"));
        assertEquals(RateNorm.PER_KIND, RateNorm.parse("PER_KIND"));
        assertEquals(RateNorm.MEAN, RateNorm.parse("mean"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RateNorm.parse("max"));
        assertTrue(e.getMessage().contains("global, per-kind or mean"));
    }

    static double weightedMean(double[] w, long[] elements) {
        double sum = 0;
        double n = 0;
        for (int i = 0; i < w.length; i++) {
            sum += w[i] * elements[i];
            n += elements[i];
        }
        return sum / n;
    }
}
