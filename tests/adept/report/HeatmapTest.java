package adept.report;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
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

    @Test
    void badShapesAndNoPanelsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new Heatmap.Panel("p", labels("l", 2), labels("u", 2), new double[][] {{1, 2}}));
        assertThrows(IllegalArgumentException.class, () -> new Heatmap.Panel("p", labels("l", 1), labels("u", 3), new double[][] {{1, 2}}));
        assertThrows(IllegalArgumentException.class, () -> Heatmap.png("t", List.of(), "v"));
    }
}
