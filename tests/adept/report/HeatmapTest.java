package adept.report;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class HeatmapTest {
    private static String[] labels(String prefix, int n) {
        String[] out = new String[n];
        for (int i = 0; i < n; i++) out[i] = prefix + i;
        return out;
    }

    /** Values rising left to right (and a little by row). */
    private static Heatmap.Panel rising(String title, int rows, int columns) {
        double[][] v = new double[rows][columns];
        for (int r = 0; r < rows; r++) for (int c = 0; c < columns; c++) v[r][c] = c + 0.1 * r;
        return new Heatmap.Panel(title, labels("layer ", rows), labels("", columns), v);
    }

    private static int cell(BufferedImage image, Rectangle2D area, int rows, int columns, int row, int column) {
        int x = (int) (area.getMinX() + (column + 0.5) * area.getWidth() / columns);
        int y = (int) (area.getMinY() + (row + 0.5) * area.getHeight() / rows);
        return image.getRGB(x, y) & 0xFFFFFF;
    }

    @Test
    void naturalAndRequestedSizes() {
        List<Heatmap.Panel> panels = List.of(rising("refresh 1 (step 0)", 4, 700), rising("refresh 2 (step 500)", 4, 700));
        BufferedImage image = Images.decode(Heatmap.png("Unit importance", panels, "importance"), Heatmap.DEFAULT_WIDTH, Heatmap.naturalHeight(panels));
        assertTrue(Images.distinctColours(image) > 100, "too few colours: " + Images.distinctColours(image));
        Images.decode(Heatmap.png("Unit importance", panels, "importance", 900, 700), 900, 700);
    }

    @Test
    void risingValuesShowDifferentColoursAtTheEnds() {
        int rows = 3;
        int columns = 40;
        var rendered = Heatmap.render("t", List.of(rising("p", rows, columns)), "v", 1000, 400);
        Rectangle2D area = rendered.cellAreas().getFirst();
        int left = cell(rendered.image(), area, rows, columns, 1, 0);
        int right = cell(rendered.image(), area, rows, columns, 1, columns - 1);
        assertNotEquals(left, right);
        // The shared scale maps the minimum to viridis' dark end and the maximum to its yellow end.
        Heatmap.Viridis scale = Heatmap.Viridis.over(List.of(rising("p", rows, columns)));
        assertEquals(((Color) scale.getPaint(scale.getLowerBound())).getRGB() & 0xFFFFFF, cell(rendered.image(), area, rows, columns, 0, 0));
        assertEquals(0xFDE725, ((Color) scale.getPaint(scale.getUpperBound())).getRGB() & 0xFFFFFF);
        assertEquals(0x440154, ((Color) scale.getPaint(scale.getLowerBound())).getRGB() & 0xFFFFFF);
    }

    @Test
    void scaleIsSharedAcrossPanels() {
        Heatmap.Panel low = new Heatmap.Panel("low", labels("l", 2), labels("", 3), new double[][] {{0, 0, 0}, {0, 0, 0}});
        Heatmap.Panel high = new Heatmap.Panel("high", labels("l", 2), labels("", 3), new double[][] {{10, 10, 10}, {10, 10, 10}});
        var rendered = Heatmap.render("t", List.of(low, high), "v", 800, 500);
        int a = cell(rendered.image(), rendered.cellAreas().get(0), 2, 3, 0, 1);
        int b = cell(rendered.image(), rendered.cellAreas().get(1), 2, 3, 0, 1);
        assertEquals(0x440154, a);
        assertEquals(0xFDE725, b);
    }

    @Test
    void nanCellsAreGrey() {
        double[][] v = {{1, 2, Double.NaN, Double.NaN}, {3, 4, 5, 6}};
        var rendered = Heatmap.render("t", List.of(new Heatmap.Panel("p", labels("l", 2), labels("u", 4), v)), "v", 800, 300);
        Rectangle2D area = rendered.cellAreas().getFirst();
        assertEquals(Heatmap.NO_UNIT.getRGB() & 0xFFFFFF, cell(rendered.image(), area, 2, 4, 0, 3));
        assertNotEquals(Heatmap.NO_UNIT.getRGB() & 0xFFFFFF, cell(rendered.image(), area, 2, 4, 1, 3));
    }

    @Test
    void degenerateInputsDoNotThrow() {
        Heatmap.Panel single = new Heatmap.Panel("one", new String[] {"l0"}, new String[] {"u0"}, new double[][] {{0.5}});
        Heatmap.Panel constant = new Heatmap.Panel("flat", labels("l", 2), labels("u", 3), new double[][] {{2, 2, 2}, {2, 2, 2}});
        Heatmap.Panel nan = new Heatmap.Panel("none", labels("l", 2), labels("u", 2), new double[][] {{Double.NaN, Double.NaN}, {Double.NaN, Double.NaN}});
        Heatmap.Panel zeros = new Heatmap.Panel("zeros", labels("l", 1), labels("u", 2), new double[][] {{0, 0}});
        for (Heatmap.Panel p : List.of(single, constant, nan, zeros)) {
            assertDoesNotThrow(() -> Images.decode(Heatmap.png("t", List.of(p), "v"), Heatmap.DEFAULT_WIDTH, Heatmap.naturalHeight(List.of(p))), p.title());
        }
        var grey = Heatmap.render("t", List.of(nan), "v", 600, 300);
        assertEquals(Heatmap.NO_UNIT.getRGB() & 0xFFFFFF, cell(grey.image(), grey.cellAreas().getFirst(), 2, 2, 0, 0));
    }

    @Test
    void manyPanelsWithManyUnits() {
        List<Heatmap.Panel> panels = new ArrayList<>();
        for (int i = 0; i < 8; i++) panels.add(rising("refresh " + i, 8, 2048));
        Images.decode(Heatmap.png("t", panels, "v"), Heatmap.DEFAULT_WIDTH, Heatmap.naturalHeight(panels));
    }

    private static int rgb(java.awt.Paint paint) {
        return ((Color) paint).getRGB() & 0xFFFFFF;
    }

    /** Equal colours, up to 1 per channel (log10 of a decimal power of ten is not always exact). */
    private static void assertColour(int expected, int actual, String what) {
        for (int shift : new int[] {16, 8, 0}) {
            if (Math.abs((expected >> shift & 0xFF) - (actual >> shift & 0xFF)) > 1) {
                throw new AssertionError(what + ": expected " + Integer.toHexString(expected) + ", got " + Integer.toHexString(actual));
            }
        }
    }

    @Test
    void logScaleStepsOneQuarterPerDecadeOverFourDecades() {
        // 1e-6 .. 1e-2 spans four decades: each factor of 10 moves a quarter of the way along viridis.
        double[][] v = {{1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0, Double.NaN}};
        Heatmap.Panel p = new Heatmap.Panel("p", labels("l", 1), labels("u", 7), v);
        var rendered = Heatmap.render("t", List.of(p), "importance", Heatmap.Scale.LOG, 900, 260);
        Rectangle2D area = rendered.cellAreas().getFirst();
        for (int d = 0; d <= 4; d++) {
            assertColour(rgb(Heatmap.Viridis.at(d / 4.0)), cell(rendered.image(), area, 1, 7, 0, d), "decade " + d);
        }
        assertEquals(0x440154, cell(rendered.image(), area, 1, 7, 0, 0));
        assertColour(0x21918C, cell(rendered.image(), area, 1, 7, 0, 2), "1e-4: viridis' middle stop");
        assertEquals(0xFDE725, cell(rendered.image(), area, 1, 7, 0, 4));
        assertEquals(Heatmap.ZERO.getRGB() & 0xFFFFFF, cell(rendered.image(), area, 1, 7, 0, 5), "a zero is drawn in the zero colour");
        assertEquals(Heatmap.NO_UNIT.getRGB() & 0xFFFFFF, cell(rendered.image(), area, 1, 7, 0, 6));
        // On a linear scale the same 1e-4 would sit at 1% of the range: nearly the darkest colour, as the issue saw.
        var linear = Heatmap.render("t", List.of(p), "importance", Heatmap.Scale.LINEAR, 900, 260);
        assertNotEquals(cell(rendered.image(), area, 1, 7, 0, 2), cell(linear.image(), linear.cellAreas().getFirst(), 1, 7, 0, 2));
        // The zero colour also shows in the key beside the colour bar (below every cell).
        BufferedImage image = rendered.image();
        int below = 0;
        for (int y = (int) area.getMaxY() + 30; y < image.getHeight(); y++) {
            for (int x = 0; x < image.getWidth(); x++) if ((image.getRGB(x, y) & 0xFFFFFF) == (Heatmap.ZERO.getRGB() & 0xFFFFFF)) below++;
        }
        assertTrue(below >= 100, "no zero swatch in the key: " + below + " pixels");
    }

    @Test
    void logScaleColoursAFactorOfTenByTheExpectedStep() {
        Heatmap.Viridis scale = Heatmap.Viridis.over(List.of(new Heatmap.Panel("p", labels("l", 1), labels("u", 3), new double[][] {{3e-7, 0, 3e-2}})),
                Heatmap.Scale.LOG);
        assertEquals(3e-7, scale.getLowerBound(), 1e-20);
        assertEquals(3e-2, scale.getUpperBound(), 1e-15);
        // five decades: 3e-5 is two fifths along, 3e-4 three fifths
        assertColour(rgb(Heatmap.Viridis.at(0.4)), rgb(scale.getPaint(3e-5)), "3e-5");
        assertColour(rgb(Heatmap.Viridis.at(0.6)), rgb(scale.getPaint(3e-4)), "3e-4");
        assertEquals(Heatmap.ZERO, scale.getPaint(0));
        assertEquals(Heatmap.ZERO, scale.getPaint(-1));
        assertEquals(Heatmap.NO_UNIT, scale.getPaint(Double.NaN));
    }

    @Test
    void logScaleKeepsAtMostTenDecadesAndCentresASingleValue() {
        Heatmap.Viridis wide = Heatmap.Viridis.over(List.of(new Heatmap.Panel("p", labels("l", 1), labels("u", 2), new double[][] {{1e-30, 1}})),
                Heatmap.Scale.LOG);
        assertEquals(1e-10, wide.getLowerBound(), 1e-22);
        assertEquals(0x440154, rgb(wide.getPaint(1e-30)));
        Heatmap.Viridis single = Heatmap.Viridis.over(List.of(new Heatmap.Panel("p", labels("l", 1), labels("u", 2), new double[][] {{0.02, 0}})),
                Heatmap.Scale.LOG);
        assertColour(rgb(Heatmap.Viridis.at(0.5)), rgb(single.getPaint(0.02)), "a single value");
        Heatmap.Panel zeros = new Heatmap.Panel("zeros", labels("l", 1), labels("u", 2), new double[][] {{0, 0}});
        var rendered = Heatmap.render("t", List.of(zeros), "v", Heatmap.Scale.LOG, 600, 260);
        assertEquals(Heatmap.ZERO.getRGB() & 0xFFFFFF, cell(rendered.image(), rendered.cellAreas().getFirst(), 1, 2, 0, 1));
    }

    @Test
    void colourBarTicksReadAsPowersOfTen() {
        Heatmap.PowerOfTen f = new Heatmap.PowerOfTen();
        assertEquals("1e-5", f.format(-5.0));
        assertEquals("0.01", f.format(-2.0));
        assertEquals("1", f.format(0.0));
        assertEquals("1000", f.format(3.0));
        assertEquals("1e6", f.format(6.0));
        assertEquals("0.0032", f.format(-2.5));
    }

    @Test
    void everyKindOfUnitKeepsItsLabelWhenNotAllFit() {
        // neuron granularity in small: 15 query heads, 2 kv heads, 30 neurons, the norms; labels need two cells
        List<String> names = new ArrayList<>();
        for (int h = 0; h < 15; h++) names.add("h" + h);
        names.addAll(List.of("kv0", "kv1"));
        for (int n = 0; n < 30; n++) names.add("n" + n);
        names.addAll(List.of("input_norm", "post_norm"));
        String[] labels = names.toArray(String[]::new);
        double[] extent = new double[labels.length];
        java.util.Arrays.fill(extent, 16);
        List<Integer> shown = Heatmap.tickIndices(labels, extent, 9);
        // kv0 (15), n0 (17) and input_norm (47) sit at odd places that every-other labelling would skip
        for (String must : List.of("h0", "kv0", "n0", "input_norm")) {
            assertTrue(shown.contains(names.indexOf(must)), must + " lost its label: " + shown.stream().map(names::get).toList());
        }
        // the rest every other one, counted from each group's start: n2, n4, not n3
        assertTrue(shown.contains(names.indexOf("h2")) && shown.contains(names.indexOf("n2")) && shown.contains(names.indexOf("n4")), "every other: " + shown);
        assertFalse(shown.contains(names.indexOf("n3")), "n3 between n2 and n4: " + shown);
        for (int i = 1; i < shown.size(); i++) {
            int a = shown.get(i - 1);
            int b = shown.get(i);
            assertTrue((b - a) * 9 >= (extent[a] + extent[b]) / 2, labels[a] + " runs into " + labels[b]);
        }
        // wide cells: every label
        assertEquals(labels.length, Heatmap.tickIndices(labels, extent, 20).size());
        assertEquals("kv", Heatmap.group("kv12"));
        assertEquals("gate", Heatmap.group("gate"));
    }

    @Test
    void badShapesAndNoPanelsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new Heatmap.Panel("p", labels("l", 2), labels("u", 2), new double[][] {{1, 2}}));
        assertThrows(IllegalArgumentException.class, () -> new Heatmap.Panel("p", labels("l", 1), labels("u", 3), new double[][] {{1, 2}}));
        assertThrows(IllegalArgumentException.class, () -> Heatmap.png("t", List.of(), "v"));
    }
}
