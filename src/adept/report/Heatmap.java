package adept.report;

import java.awt.Color;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.Paint;
import java.awt.RenderingHints;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.jfree.chart.ChartRenderingInfo;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.AxisLocation;
import org.jfree.chart.axis.AxisSpace;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.block.BlockBorder;
import org.jfree.chart.block.RectangleConstraint;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.PaintScale;
import org.jfree.chart.renderer.xy.XYBlockRenderer;
import org.jfree.chart.title.PaintScaleLegend;
import org.jfree.chart.title.TextTitle;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.chart.ui.RectangleInsets;
import org.jfree.data.xy.DefaultXYZDataset;

/**
 * Heatmaps of unit importance over trainable layers (rows) x units (columns), one panel per importance refresh,
 * stacked vertically in one image under one colour scale (viridis, min..max over all panels) with a colour bar.
 * NaN marks a cell with no unit there and is drawn light grey.
 */
public final class Heatmap {
    static {
        Charts.init();
    }

    /** One panel: values[row][col]; every row has one value per column label. */
    public record Panel(String title, String[] rowLabels, String[] columnLabels, double[][] values) {
        public Panel {
            if (values.length != rowLabels.length) {
                throw new IllegalArgumentException("panel " + title + ": " + values.length + " rows of values, " + rowLabels.length + " row labels");
            }
            double[][] copy = new double[values.length][];
            for (int r = 0; r < values.length; r++) {
                if (values[r].length != columnLabels.length) {
                    throw new IllegalArgumentException("panel " + title + ": row " + r + " has " + values[r].length + " values, "
                            + columnLabels.length + " column labels");
                }
                copy[r] = values[r].clone();
            }
            rowLabels = rowLabels.clone();
            columnLabels = columnLabels.clone();
            values = copy;
        }
    }

    public static final int DEFAULT_WIDTH = 1200;

    static final Color NO_UNIT = new Color(0xD9D9D9);

    private static final int TITLE_BAND = 40;
    private static final int LEGEND_BAND = 78;
    private static final int ROW_PIXELS = 26;
    private static final int PANEL_OVERHEAD = 62;  // panel title and column tick labels

    private Heatmap() {}

    /** The panels at {@link #DEFAULT_WIDTH}, each row {@value #ROW_PIXELS} pixels tall. */
    public static byte[] png(String title, List<Panel> panels, String valueLabel) {
        return png(title, panels, valueLabel, DEFAULT_WIDTH, naturalHeight(panels));
    }

    /** The panels as one PNG. */
    public static byte[] png(String title, List<Panel> panels, String valueLabel, int width, int height) {
        return Charts.png(render(title, panels, valueLabel, width, height).image());
    }

    static int naturalHeight(List<Panel> panels) {
        int h = TITLE_BAND + LEGEND_BAND;
        for (Panel p : panels) h += PANEL_OVERHEAD + ROW_PIXELS * Math.max(1, p.rowLabels().length);
        return h;
    }

    /** The image, and each panel's cell area in it (for tests that sample cells). */
    record Rendered(BufferedImage image, List<Rectangle2D> cellAreas) {}

    static Rendered render(String title, List<Panel> panels, String valueLabel, int width, int height) {
        if (panels.isEmpty()) throw new IllegalArgumentException("no heatmap panels");
        Charts.checkSize(width, height);
        Viridis scale = Viridis.over(panels);
        int columns = 1;
        for (Panel p : panels) columns = Math.max(columns, p.columnLabels().length);

        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        List<Rectangle2D> areas = new ArrayList<>();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);

            TextTitle heading = new TextTitle(title == null ? "" : title, Charts.TITLE);
            heading.setPaint(Charts.TEXT);
            heading.arrange(g, RectangleConstraint.NONE.toFixedWidth(width));  // a title lays out its text only here
            heading.draw(g, new Rectangle2D.Double(0, 6, width, TITLE_BAND - 6));

            // Every panel gets the same left axis width so the cell areas line up under one colour bar.
            FontMetrics fm = g.getFontMetrics(Charts.TICK);
            int widest = 0;
            for (Panel p : panels) for (String label : p.rowLabels()) widest = Math.max(widest, fm.stringWidth(label));
            AxisSpace left = new AxisSpace();
            left.setLeft(widest + 14);

            double weightSum = 0;
            for (Panel p : panels) weightSum += PANEL_OVERHEAD + ROW_PIXELS * Math.max(1, p.rowLabels().length);
            double y = TITLE_BAND;
            double available = Math.max(1, height - TITLE_BAND - LEGEND_BAND);
            for (Panel p : panels) {
                double h = available * (PANEL_OVERHEAD + ROW_PIXELS * Math.max(1, p.rowLabels().length)) / weightSum;
                JFreeChart chart = panelChart(p, columns, scale, left);
                ChartRenderingInfo info = new ChartRenderingInfo();
                chart.draw(g, new Rectangle2D.Double(0, y, width, h), info);
                areas.add(info.getPlotInfo().getDataArea().getBounds2D());
                y += h;
            }

            Rectangle2D cells = areas.getFirst();
            PaintScaleLegend bar = legend(scale, valueLabel);
            bar.draw(g, new Rectangle2D.Double(cells.getMinX(), height - LEGEND_BAND, cells.getWidth(), LEGEND_BAND - 6));
        } finally {
            g.dispose();
        }
        return new Rendered(image, areas);
    }

    private static JFreeChart panelChart(Panel p, int columns, PaintScale scale, AxisSpace left) {
        int rows = p.rowLabels().length;
        DefaultXYZDataset data = new DefaultXYZDataset();
        int n = rows * p.columnLabels().length;
        double[][] xyz = new double[3][n];
        int i = 0;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < p.columnLabels().length; c++, i++) {
                xyz[0][i] = c;
                xyz[1][i] = r;
                xyz[2][i] = p.values()[r][c];
            }
        }
        data.addSeries("cells", xyz);

        XYBlockRenderer renderer = new XYBlockRenderer();
        renderer.setPaintScale(scale);
        LabelAxis x = new LabelAxis(p.columnLabels());
        x.setRange(-0.5, columns - 0.5);  // shared by all panels so their columns line up
        LabelAxis rowAxis = new LabelAxis(p.rowLabels());
        rowAxis.setRange(-0.5, Math.max(1, rows) - 0.5);
        rowAxis.setInverted(true);  // first row on top, as in a table

        XYPlot plot = new XYPlot(data, x, rowAxis, renderer);
        Charts.style(plot);
        plot.setDomainGridlinesVisible(false);
        plot.setRangeGridlinesVisible(false);
        plot.setAxisOffset(RectangleInsets.ZERO_INSETS);
        plot.setFixedRangeAxisSpace(left);
        JFreeChart chart = new JFreeChart(p.title(), Charts.PANEL_TITLE, plot, false);
        chart.setBackgroundPaint(Color.WHITE);
        chart.setPadding(new RectangleInsets(4, 8, 2, 16));
        if (chart.getTitle() != null) chart.getTitle().setPaint(Charts.TEXT);
        // Thin cells must not blend into their neighbours or leave seams.
        chart.setAntiAlias(false);
        chart.setTextAntiAlias(true);
        return chart;
    }

    private static PaintScaleLegend legend(Viridis scale, String valueLabel) {
        NumberAxis axis = new NumberAxis(valueLabel);
        axis.setRange(scale.getLowerBound(), scale.getUpperBound());
        axis.setLabelFont(Charts.LABEL);
        axis.setLabelPaint(Charts.TEXT);
        axis.setTickLabelFont(Charts.TICK);
        axis.setTickLabelPaint(Charts.TEXT);
        PaintScaleLegend legend = new PaintScaleLegend(scale, axis);
        legend.setPosition(RectangleEdge.BOTTOM);
        legend.setAxisLocation(AxisLocation.BOTTOM_OR_LEFT);
        legend.setStripWidth(14);
        legend.setSubdivisionCount(256);
        legend.setStripOutlineVisible(true);
        legend.setFrame(BlockBorder.NONE);
        legend.setMargin(new RectangleInsets(6, 0, 0, 0));
        legend.setBackgroundPaint(Color.WHITE);
        return legend;
    }

    /** An index axis whose ticks read labels[index], thinned to every k-th so labels never run into each other. */
    private static final class LabelAxis extends NumberAxis {
        private static final int[] STEPS = {1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000};
        private final String[] labels;

        LabelAxis(String[] labels) {
            super(null);
            this.labels = labels;
            setTickMarksVisible(true);
            setMinorTickMarksVisible(false);
            setTickLabelFont(Charts.TICK);
        }

        @Override
        protected void selectAutoTickUnit(Graphics2D g2, Rectangle2D dataArea, RectangleEdge edge) {
            FontMetrics fm = g2.getFontMetrics(getTickLabelFont());
            boolean horizontal = RectangleEdge.isTopOrBottom(edge);
            double needed = fm.getHeight() + 2;
            if (horizontal) {
                needed = 0;
                for (String label : labels) needed = Math.max(needed, fm.stringWidth(label));
                needed += 10;
            }
            double cell = (horizontal ? dataArea.getWidth() : dataArea.getHeight()) / Math.max(1e-9, getRange().getLength());
            int step = STEPS[STEPS.length - 1];
            for (int s : STEPS) {
                if (s * cell >= needed) {
                    step = s;
                    break;
                }
            }
            setTickUnit(new LabelUnit(step, labels), false, false);
        }
    }

    private static final class LabelUnit extends NumberTickUnit {
        private final String[] labels;

        LabelUnit(double size, String[] labels) {
            super(size);
            this.labels = labels;
        }

        @Override
        public String valueToString(double value) {
            long i = Math.round(value);
            return Math.abs(value - i) < 1e-6 && i >= 0 && i < labels.length ? labels[(int) i] : "";
        }
    }

    /** Viridis, interpolated between its eleven published stops, clamped at the ends; NaN is {@link #NO_UNIT}. */
    static final class Viridis implements PaintScale {
        private static final int[] STOPS = {0x440154, 0x482475, 0x414487, 0x355F8D, 0x2A788E, 0x21918C, 0x22A884, 0x44BF70, 0x7AD151,
                0xBDDF26, 0xFDE725};
        private final double lower;
        private final double upper;

        Viridis(double lower, double upper) {
            if (!(upper > lower)) throw new IllegalArgumentException(String.format(Locale.ROOT, "empty colour range %g..%g", lower, upper));
            this.lower = lower;
            this.upper = upper;
        }

        /** min..max of the finite values over all panels, widened when empty or a single value. */
        static Viridis over(List<Panel> panels) {
            double min = Double.POSITIVE_INFINITY;
            double max = Double.NEGATIVE_INFINITY;
            for (Panel p : panels) {
                for (double[] row : p.values()) {
                    for (double v : row) {
                        if (Double.isFinite(v)) {
                            min = Math.min(min, v);
                            max = Math.max(max, v);
                        }
                    }
                }
            }
            if (min > max) return new Viridis(0, 1);
            if (min == max) {
                double pad = min == 0 ? 0.5 : Math.abs(min) * 0.05;
                return new Viridis(min - pad, max + pad);
            }
            return new Viridis(min, max);
        }

        @Override
        public double getLowerBound() {
            return lower;
        }

        @Override
        public double getUpperBound() {
            return upper;
        }

        @Override
        public Paint getPaint(double value) {
            if (Double.isNaN(value)) return NO_UNIT;
            double t = Math.clamp((value - lower) / (upper - lower), 0.0, 1.0);
            double at = t * (STOPS.length - 1);
            int i = Math.min((int) at, STOPS.length - 2);
            double f = at - i;
            return new Color(mix(STOPS[i] >> 16, STOPS[i + 1] >> 16, f), mix(STOPS[i] >> 8, STOPS[i + 1] >> 8, f), mix(STOPS[i], STOPS[i + 1], f));
        }

        private static int mix(int a, int b, double f) {
            return (int) Math.round((a & 0xFF) * (1 - f) + (b & 0xFF) * f);
        }
    }
}
