package adept.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Rectangle;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.util.Set;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.LegendItem;
import org.jfree.chart.LegendItemCollection;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.IntervalMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.StandardXYBarPainter;
import org.jfree.chart.renderer.xy.XYBarRenderer;
import org.jfree.chart.ui.Layer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * A bar chart, one bar per index (layer): values may be negative (bars below the zero line), non-finite values
 * draw no bar, and the highlighted indices are drawn in a second colour on a light band, with a legend entry.
 * Used for the layer-importance plot.
 */
public final class BarChart {
    static {
        Charts.init();
    }

    static final Color BAR = new Color(0x4C78A8);
    static final Color HIGHLIGHT = new Color(0xE45756);
    private static final Color HIGHLIGHT_BAND = new Color(0xFBE3E3);
    private static final Color ZERO_LINE = new Color(0x333333);

    private final String title;
    private final String subtitle;
    private final String xLabel;
    private final String yLabel;
    private final double[] values;
    private final Set<Integer> highlighted;
    private final String highlightLegend;
    private final String barLegend;
    private int width = 1000;
    private int height = 500;

    /** One bar per value (index on the x axis), the highlighted indices in a second colour with their own legend. */
    public BarChart(String title, String subtitle, String xLabel, String yLabel, double[] values, Set<Integer> highlighted,
                    String barLegend, String highlightLegend) {
        this.title = title;
        this.subtitle = subtitle;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
        this.values = values.clone();
        this.highlighted = Set.copyOf(highlighted);
        this.barLegend = barLegend;
        this.highlightLegend = highlightLegend;
    }

    /** Sets the image size in pixels (default 1000x500). */
    public BarChart size(int width, int height) {
        Charts.checkSize(width, height);
        this.width = width;
        this.height = height;
        return this;
    }

    /** The chart drawn headless. */
    public BufferedImage render() {
        return Charts.render(chart(), width, height);
    }

    /** The chart as PNG bytes. */
    public byte[] png() throws IOException {
        return Charts.png(render());
    }

    JFreeChart chart() {
        int n = values.length;
        // Two series so each bar takes its series' colour; an index has a value in only one, so bars never overlap.
        XYSeries plain = new XYSeries("bars", false, false);
        XYSeries marked = new XYSeries("highlighted", false, false);
        boolean anyMarked = false;
        for (int i = 0; i < n; i++) {
            if (!Double.isFinite(values[i])) continue;
            if (highlighted.contains(i)) marked.add(i, values[i]);
            else plain.add(i, values[i]);
        }
        XYSeriesCollection data = new XYSeriesCollection();
        data.addSeries(plain);
        data.addSeries(marked);
        data.setIntervalWidth(0.72);  // fixed, else it is derived from the spacing and fails for a single bar

        XYBarRenderer renderer = new XYBarRenderer();
        renderer.setBarPainter(new StandardXYBarPainter());  // flat bars, no gradient
        renderer.setShadowVisible(false);
        renderer.setDrawBarOutline(false);
        renderer.setBase(0);
        renderer.setSeriesPaint(0, BAR);
        renderer.setSeriesPaint(1, HIGHLIGHT);

        NumberAxis layers = new NumberAxis(xLabel);
        layers.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        layers.setRange(-0.5, Math.max(1, n) - 0.5);
        NumberAxis delta = new NumberAxis(yLabel);
        delta.setAutoRangeIncludesZero(true);

        XYPlot plot = new XYPlot(data, layers, delta, renderer);
        Charts.style(plot);
        plot.setDomainGridlinesVisible(false);
        plot.setRangeZeroBaselineVisible(true);
        plot.setRangeZeroBaselinePaint(ZERO_LINE);
        plot.setRangeZeroBaselineStroke(new BasicStroke(1.5f));
        // A band behind each highlighted slot, so a highlighted bar near zero still stands out.
        for (int i : highlighted) {
            if (i < 0 || i >= n) continue;
            anyMarked = true;
            IntervalMarker band = new IntervalMarker(i - 0.5, i + 0.5, HIGHLIGHT_BAND);
            band.setOutlinePaint(null);
            plot.addDomainMarker(band, Layer.BACKGROUND);
        }

        // Fixed legend items: the legend texts are free-form (they may even coincide), so they are not series keys.
        LegendItemCollection legend = new LegendItemCollection();
        legend.add(swatch(barLegend, BAR));
        if (anyMarked) legend.add(swatch(highlightLegend, HIGHLIGHT));
        plot.setFixedLegendItems(legend);
        return Charts.chart(title, subtitle, plot, true);
    }

    private static LegendItem swatch(String text, Color color) {
        return new LegendItem(text == null ? "" : text, null, null, null, new Rectangle(-7, -6, 14, 12), color);
    }
}
