package adept.report;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BarChartTest {
    private static BarChart chart(double[] values, Set<Integer> marked) {
        return new BarChart("Layer importance", "base loss 2.1", "layer", "\u0394L", values, marked, "\u0394L", "lowest 2 (candidates)");
    }

    @Test
    void pngHasDefaultSizeAndIsNotBlank() throws Exception {
        double[] values = {0.9, 0.02, -0.03, 0.4, 0.35, 0.01, 0.2, 0.6};
        BufferedImage image = Images.decode(chart(values, Set.of(1, 2)).png(), 1000, 500);
        assertTrue(Images.distinctColours(image) > 20, "too few colours: " + Images.distinctColours(image));
    }

    @Test
    void highlightedBarsUseTheSecondColour() throws Exception {
        double[] values = {0.9, 0.5, 0.7, 0.6};
        BufferedImage marked = Images.decode(chart(values, Set.of(1)).size(640, 360).png(), 640, 360);
        BufferedImage plain = Images.decode(chart(values, Set.of()).size(640, 360).png(), 640, 360);
        // A bar of height 0.5 on a 640x360 chart covers thousands of pixels; the legend swatch only a few hundred.
        assertTrue(Images.count(marked, BarChart.HIGHLIGHT.getRGB()) > 1000, "highlight colour missing");
        assertTrue(Images.count(marked, BarChart.BAR.getRGB()) > 1000, "bar colour missing");
        assertEquals(0, Images.count(plain, BarChart.HIGHLIGHT.getRGB()), "no highlight without highlighted bars");
    }

    @Test
    void negativeValuesDrawBelowTheZeroLine() throws Exception {
        BufferedImage image = Images.decode(chart(new double[] {-1, -2, -0.5}, Set.of(1)).png(), 1000, 500);
        assertTrue(Images.count(image, BarChart.HIGHLIGHT.getRGB()) > 1000);
    }

    @Test
    void degenerateInputsDoNotThrow() {
        assertDoesNotThrow(() -> Images.decode(chart(new double[] {0.3}, Set.of(0)).png(), 1000, 500));
        assertDoesNotThrow(() -> Images.decode(chart(new double[] {0, 0, 0}, Set.of()).png(), 1000, 500));
        assertDoesNotThrow(() -> Images.decode(chart(new double[] {Double.NaN, Double.NaN}, Set.of(0, 5)).png(), 1000, 500));
        assertDoesNotThrow(() -> Images.decode(chart(new double[0], Set.of()).png(), 1000, 500));
    }

    @Test
    void manyLayersRender() throws Exception {
        double[] values = new double[80];
        for (int i = 0; i < values.length; i++) values[i] = Math.sin(i / 5.0);
        Images.decode(chart(values, Set.of(3, 40, 79)).png(), 1000, 500);
    }
}
