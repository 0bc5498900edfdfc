package adept.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** Element-wise comparisons with a message naming the first differing index. */
final class Assert {
    private Assert() {}

    static void close(double[] expected, double[] actual, double tolerance) {
        assertEquals(expected.length, actual.length, "length");
        for (int i = 0; i < expected.length; i++) {
            if (!(Math.abs(expected[i] - actual[i]) <= tolerance)) {
                fail("element " + i + ": expected " + expected[i] + " but was " + actual[i] + " (tolerance " + tolerance + ")");
            }
        }
    }

    static void close(float[] expected, float[] actual, double tolerance) {
        double[] e = new double[expected.length];
        double[] a = new double[actual.length];
        for (int i = 0; i < e.length; i++) e[i] = expected[i];
        for (int i = 0; i < a.length; i++) a[i] = actual[i];
        close(e, a, tolerance);
    }

    static void close(Tensor expected, Tensor actual, double tolerance) {
        org.junit.jupiter.api.Assertions.assertArrayEquals(expected.shape(), actual.shape(), "shape");
        close(expected.toDoubleArray(), actual.toDoubleArray(), tolerance);
    }
}
