package adept.report;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LineChartTest {
    private static LineChart.Series curve(String name, int n, double scale) {
        double[] x = new double[n];
        double[] y = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = i * 10;
            y[i] = scale * (3 + 2 * Math.exp(-i / 20.0));
        }
        return new LineChart.Series(name, x, y);
    }

    @Test
    void defaultSizeAndEveryCurveHasItsColour() {
        LineChart chart = new LineChart("Training", "run 1", "step", "loss", List.of(curve("train", 200, 1), curve("eval", 20, 1.1)));
        BufferedImage image = Images.decode(chart.png(), 1000, 560);
        assertTrue(Images.distinctColours(image) > 20);
        assertTrue(Images.count(image, LineChart.PALETTE[0].getRGB()) > 200, "first series colour missing");
        assertTrue(Images.count(image, LineChart.PALETTE[1].getRGB()) > 100, "second series colour missing");
    }

    @Test
    void requestedSizeAndLogScale() {
        LineChart chart = new LineChart("Training", null, "step", "loss", List.of(curve("train", 100, 1), curve("lr", 100, 1e-4)), true);
        Images.decode(chart.png(800, 400), 800, 400);
    }

    @Test
    void nanPointsAreSkipped() {
        LineChart.Series gappy = new LineChart.Series("eval", new double[] {0, 1, 2, 3, Double.NaN}, new double[] {1, Double.NaN, 0.5, Double.POSITIVE_INFINITY, 2});
        BufferedImage image = Images.decode(new LineChart("t", "s", "x", "y", List.of(gappy)).png(), 1000, 560);
        assertTrue(Images.count(image, LineChart.PALETTE[0].getRGB()) > 20);
    }

    @Test
    void degenerateInputsDoNotThrow() {
        LineChart.Series single = new LineChart.Series("one", new double[] {5}, new double[] {2});
        LineChart.Series constant = new LineChart.Series("flat", new double[] {0, 1, 2}, new double[] {3, 3, 3});
        LineChart.Series allNaN = new LineChart.Series("none", new double[] {0, 1}, new double[] {Double.NaN, Double.NaN});
        LineChart.Series negative = new LineChart.Series("neg", new double[] {0, 1}, new double[] {-1, 0});
        for (boolean log : new boolean[] {false, true}) {
            for (List<LineChart.Series> s : List.of(List.of(single), List.of(constant), List.of(allNaN), List.of(negative), List.<LineChart.Series>of())) {
                assertDoesNotThrow(() -> Images.decode(new LineChart("t", "s", "x", "y", s, log).png(), 1000, 560), s + " log=" + log);
            }
        }
    }

    @Test
    void manySeriesAndRepeatedNames() {
        List<LineChart.Series> series = new ArrayList<>();
        for (int i = 0; i < 13; i++) series.add(curve("same", 30, 1 + i * 0.1));
        Images.decode(new LineChart("t", "s", "x", "y", series).png(), 1000, 560);
    }

    @Test
    void seriesLengthsMustMatch() {
        assertThrows(IllegalArgumentException.class, () -> new LineChart.Series("bad", new double[2], new double[3]));
    }

    @Test
    void referenceLineShowsEvenOutsideTheDataRange() {
        // every point is above 2: the axis must still take in the reference at 1
        LineChart.Series high = new LineChart.Series("mean", new double[] {0, 100, 200}, new double[] {2, 2.5, 3});
        LineChart chart = new LineChart("t", null, "step", "multiplier", List.of(high)).withReference(new LineChart.Reference(1, "1 = base rate"));
        BufferedImage image = Images.decode(chart.png(), 1000, 560);
        assertTrue(Images.count(image, LineChart.REFERENCE.getRGB()) > 300, "reference line missing: " + Images.count(image, LineChart.REFERENCE.getRGB()));
        assertTrue(Images.count(image, LineChart.PALETTE[0].getRGB()) > 100);
        BufferedImage plain = Images.decode(new LineChart("t", null, "step", "multiplier", List.of(high)).png(), 1000, 560);
        assertTrue(Images.count(plain, LineChart.REFERENCE.getRGB()) < 50);
        // a single point still gets a visible reference line
        LineChart.Series one = new LineChart.Series("mean", new double[] {40}, new double[] {0.8});
        BufferedImage single = Images.decode(new LineChart("t", null, "step", "m", List.of(one)).withReference(new LineChart.Reference(1, "1")).png(), 1000, 560);
        assertTrue(Images.count(single, LineChart.REFERENCE.getRGB()) > 300);
    }
}
