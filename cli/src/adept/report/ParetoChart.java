package adept.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.geom.Ellipse2D;
import java.util.List;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYErrorRenderer;
import org.jfree.data.xy.XYIntervalSeries;
import org.jfree.data.xy.XYIntervalSeriesCollection;

/**
 * Learning versus forgetting: x = general-loss change, y = domain-loss change, one line per curve joining its
 * settings in order, seed spread as error bars on both axes, and a dashed vertical line at each budget.
 */
public final class ParetoChart {
    static {
        Charts.init();
    }

    /** One point of a curve: means and their seed standard deviations (NaN: one seed, no bar). */
    public record Point(double x, double xSd, double y, double ySd) {}

    /** A named curve. */
    public record Curve(String name, List<Point> points) {
        public Curve {
            points = List.copyOf(points);
        }
    }

    private final String title;
    private final String subtitle;
    private final List<Curve> curves;
    private final List<Double> budgets;

    /** A chart of the curves with a dashed line at each budget. */
    public ParetoChart(String title, String subtitle, List<Curve> curves, List<Double> budgets) {
        this.title = title;
        this.subtitle = subtitle;
        this.curves = List.copyOf(curves);
        this.budgets = List.copyOf(budgets);
    }

    /** The chart as PNG bytes. */
    public byte[] png(int width, int height) {
        return Charts.png(Charts.render(chart(Double.NaN), width, height));
    }

    /**
     * Two panels, stacked: every point, then the budgets' neighbourhood (general change from 0 to twice the largest
     * budget), where the matched-forgetting comparison is read and the curves would otherwise overlap.
     */
    public byte[] pngWithZoom(int width, int height) {
        double xMax = 2 * budgets.stream().mapToDouble(Double::doubleValue).max().orElse(0.2);
        return ChartStack.png(List.of(Charts.render(chart(Double.NaN), width, height), Charts.render(chart(xMax), width, height)));
    }

    /** The chart; xMax (NaN: all) limits the general-change axis to [min(0, lowest), xMax] and the domain axis to the points within it. */
    JFreeChart chart(double xMax) {
        XYIntervalSeriesCollection data = new XYIntervalSeriesCollection();
        XYErrorRenderer renderer = new XYErrorRenderer();
        renderer.setDefaultLinesVisible(true);
        renderer.setCapLength(6);
        for (int s = 0; s < curves.size(); s++) {
            Curve c = curves.get(s);
            XYIntervalSeries series = new XYIntervalSeries(c.name(), false, true);
            for (Point p : c.points()) {
                if (!Double.isFinite(p.x()) || !Double.isFinite(p.y())) continue;
                double xs = Double.isFinite(p.xSd()) ? p.xSd() : 0;
                double ys = Double.isFinite(p.ySd()) ? p.ySd() : 0;
                series.add(p.x(), p.x() - xs, p.x() + xs, p.y(), p.y() - ys, p.y() + ys);
            }
            data.addSeries(series);
            Color colour = LineChart.PALETTE[s % LineChart.PALETTE.length];
            renderer.setSeriesPaint(s, colour);
            float[] dash = s < LineChart.PALETTE.length ? null : new float[] {8f, 4f};
            renderer.setSeriesStroke(s, new BasicStroke(2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND, 10f, dash, 0f));
            renderer.setSeriesShapesVisible(s, true);
            renderer.setSeriesShape(s, new Ellipse2D.Double(-4, -4, 8, 8));
        }
        renderer.setErrorPaint(new Color(0x555555));
        NumberAxis x = new NumberAxis("general loss change from the base (forgetting)");
        x.setAutoRangeIncludesZero(false);
        NumberAxis y = new NumberAxis("domain loss change from the base (lower = learned more)");
        y.setAutoRangeIncludesZero(false);
        if (!Double.isNaN(xMax)) {
            double xMin = 0;
            double yMin = Double.POSITIVE_INFINITY;
            double yMax = Double.NEGATIVE_INFINITY;
            for (Curve c : curves) {
                for (Point p : c.points()) {
                    if (!Double.isFinite(p.x()) || !Double.isFinite(p.y())) continue;
                    xMin = Math.min(xMin, p.x());
                    if (p.x() <= xMax) {
                        yMin = Math.min(yMin, p.y());
                        yMax = Math.max(yMax, p.y());
                    }
                }
            }
            x.setRange(xMin, xMax);
            if (yMin < yMax) {
                double pad = 0.08 * (yMax - yMin);
                y.setRange(yMin - pad, yMax + pad);
            }
        }
        XYPlot plot = new XYPlot(data, x, y, renderer);
        Charts.style(plot);
        for (double b : budgets) {
            ValueMarker m = new ValueMarker(b, new Color(0x999999), new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f,
                    new float[] {4f, 4f}, 0f));
            m.setLabel(String.format(java.util.Locale.ROOT, "+%.2f", b));
            m.setLabelFont(Charts.TICK);
            m.setLabelPaint(Charts.SUBTLE);
            m.setLabelAnchor(org.jfree.chart.ui.RectangleAnchor.BOTTOM);  // at the foot of the line: labels at the top overlap the curves' start
            m.setLabelTextAnchor(org.jfree.chart.ui.TextAnchor.BOTTOM_LEFT);
            plot.addDomainMarker(m);
        }
        String sub = Double.isNaN(xMax) ? subtitle : String.format(java.util.Locale.ROOT, "the budgets' neighbourhood: general change up to %.2f", xMax);
        return Charts.chart(Double.isNaN(xMax) ? title : null, sub, plot, !curves.isEmpty());
    }
}
