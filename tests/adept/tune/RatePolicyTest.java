package adept.tune;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** Importance to rate multipliers: the paper's continuous map, the two-rate split and the hard mask. */
class RatePolicyTest {
    static final RatePolicy SPLIT = new RatePolicy(RateMode.SPLIT, 0.5, 0.25, 3.0);

    @Test
    void continuousMapsMostImportantToZeroLeastToTwoLinearInBetween() {
        double[] importance = {3, 1, 2, 5, 4.5};
        RatePolicy.Assignment a = RatePolicy.CONTINUOUS.assign(importance);
        // w = 2 (5 - I) / (5 - 1)
        assertArrayEquals(new double[] {1.0, 2.0, 1.5, 0.0, 0.25}, a.multipliers(), 1e-15);
        assertArrayEquals(new boolean[5], a.frozen());
        assertEquals(0.0, a.multipliers()[3], "most important unit: exactly 0");
        assertEquals(2.0, a.multipliers()[1], "least important unit: exactly 2");
        // linear: equal importance steps give equal rate steps
        double[] ramp = new double[11];
        for (int i = 0; i < ramp.length; i++) ramp[i] = 1e-7 * i;
        double[] w = RatePolicy.CONTINUOUS.assign(ramp).multipliers();
        for (int i = 0; i < ramp.length; i++) assertEquals(2.0 - 0.2 * i, w[i], 1e-12);
    }

    @Test
    void equalImportanceGivesBaseRateAndFreezesNothingInEveryMode() {
        for (RatePolicy p : new RatePolicy[] {RatePolicy.CONTINUOUS, SPLIT, new RatePolicy(RateMode.MASK, 0.9, 1, 1)}) {
            for (double[] imp : new double[][] {new double[7], {0.3, 0.3, 0.3}, {5}, {}}) {
                RatePolicy.Assignment a = p.assign(imp);
                assertEquals(imp.length, a.multipliers().length);
                for (double w : a.multipliers()) assertEquals(1.0, w, p.mode() + ": uniform rate while importance carries no information");
                for (boolean f : a.frozen()) assertFalse(f, p.mode() + ": nothing frozen while importance carries no information");
            }
        }
    }

    @Test
    void quantileIsNumpysLinearInterpolation() {
        // np.quantile([4, 1, 3, 2, 3], 0.3) = 2.2 (sorted 1 2 3 3 4, position 1.2)
        assertEquals(2.2, RatePolicy.quantileOf(new double[] {4, 1, 3, 2, 3}, 0.3), 1e-15);
        // ties: np.quantile([1, 2, 2, 2, 5, 7], 0.5) = 2.0 (position 2.5 between two 2s)
        assertEquals(2.0, RatePolicy.quantileOf(new double[] {7, 2, 1, 2, 5, 2}, 0.5), 0.0);
        // np.quantile([0, 0, 1, 3], 0.75) = 1.5
        assertEquals(1.5, RatePolicy.quantileOf(new double[] {3, 0, 1, 0}, 0.75), 1e-15);
        assertEquals(4.0, RatePolicy.quantileOf(new double[] {4}, 0.5), 0.0);
    }

    @Test
    void splitGivesLowRateAtOrAboveTheQuantileHighBelow() {
        // quantile 2.0 with ties: all three 2s are at the threshold, so general-critical
        double[] importance = {7, 2, 1, 2, 5, 2};
        RatePolicy.Assignment a = SPLIT.assign(importance);
        assertArrayEquals(new double[] {0.25, 0.25, 3.0, 0.25, 0.25, 0.25}, a.multipliers(), 0.0);
        assertArrayEquals(new boolean[6], a.frozen(), "split never freezes");
        // threshold 2.2 between order statistics: the 2 falls below it
        RatePolicy p = new RatePolicy(RateMode.SPLIT, 0.3, 0.5, 2.0);
        assertArrayEquals(new double[] {0.5, 2.0, 0.5, 2.0, 0.5}, p.assign(new double[] {4, 1, 3, 2, 3}).multipliers(), 0.0);
    }

    @Test
    void maskFreezesAtOrAboveTheQuantileAndKeepsTheBaseRate() {
        RatePolicy mask = new RatePolicy(RateMode.MASK, 0.5, 0.25, 3.0);
        RatePolicy.Assignment a = mask.assign(new double[] {7, 2, 1, 2, 5, 2});
        assertArrayEquals(new boolean[] {true, true, false, true, true, true}, a.frozen());
        assertArrayEquals(new double[] {1, 1, 1, 1, 1, 1}, a.multipliers(), 0.0, "mask ignores the split rates");
        RatePolicy.Assignment b = new RatePolicy(RateMode.MASK, 0.75, 1, 1).assign(new double[] {3, 0, 1, 0});
        assertArrayEquals(new boolean[] {true, false, false, false}, b.frozen());
    }

    @Test
    void invalidQuantileAndRatesAreRejected() {
        for (double q : new double[] {0, 1, Double.NaN, -0.1, 1.5, Double.POSITIVE_INFINITY}) {
            assertThrows(IllegalArgumentException.class, () -> new RatePolicy(RateMode.SPLIT, q, 0.5, 2), "quantile " + q);
            assertThrows(IllegalArgumentException.class, () -> new RatePolicy(RateMode.MASK, q, 1, 1), "quantile " + q);
        }
        for (double r : new double[] {-1e-9, -1, Double.NaN, Double.POSITIVE_INFINITY}) {
            assertThrows(IllegalArgumentException.class, () -> new RatePolicy(RateMode.SPLIT, 0.5, r, 2), "lr_low " + r);
            assertThrows(IllegalArgumentException.class, () -> new RatePolicy(RateMode.SPLIT, 0.5, 0.5, r), "lr_high " + r);
        }
        assertDoesNotThrow(() -> new RatePolicy(RateMode.SPLIT, 0.5, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> RateMode.parse("linear"));
        assertEquals(RateMode.SPLIT, RateMode.parse("Split"));
    }
}
