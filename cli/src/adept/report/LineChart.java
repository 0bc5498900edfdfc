package adept.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.geom.Ellipse2D;
import java.awt.image.BufferedImage;
import java.text.FieldPosition;
import java.text.NumberFormat;
import java.text.ParsePosition;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.ValueAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * Line chart of training curves: one line per series, each in its own colour, with a legend. Points whose x or y
 * is not finite (and, on a log-scale y axis, whose y is not positive) are left out; the line joins its neighbours.
 */
public final class LineChart {
    static {
        Charts.init();
    }

    /** One curve; x and y must be the same length. */
    public record Series(String name, double[] x, double[] y) {
        public Series {
            if (name == null) throw new IllegalArgumentException("series name is null");
            if (x.length != y.length) throw new IllegalArgumentException("series " + name + ": " + x.length + " x values, " + y.length + " y values");
            x = x.clone();
            y = y.clone();
        }

        @Override
        public double[] x() {
            return x.clone();
        }

        @Override
        public double[] y() {
            return y.clone();
        }
    }

    public static final int DEFAULT_WIDTH = 1000;
    public static final int DEFAULT_HEIGHT = 560;

    /** Tableau 10: distinct, colour-blind tolerant hues; after ten, lines repeat them dashed. */
    static final Color[] PALETTE = {new Color(0x4E79A7), new Color(0xF28E2B), new Color(0xE15759), new Color(0x76B7B2), new Color(0x59A14F),
            new Color(0xEDC948), new Color(0xB07AA1), new Color(0xFF9DA7), new Color(0x9C755F), new Color(0xBAB0AC)};

    /** Series with at most this many points also get a marker per point, so sparse curves (and single points) show. */
    private static final int MARKER_LIMIT = 40;

    private final String title;
    private final String subtitle;
    private final String xLabel;
    private final String yLabel;
    private final List<Series> series;
    private final boolean logY;
    private final Reference reference;

    /** A horizontal line at y across the series' x range, drawn grey and dashed, named in the legend. */
    public record Reference(double y, String name) {
        public Reference {
            if (name == null) throw new IllegalArgumentException("reference name is null");
        }
    }

    /** Colour of a reference line. */
    static final Color REFERENCE = new Color(0x777777);

    /** A chart of the series against one x axis (logY: a logarithmic y axis). */
    public LineChart(String title, String subtitle, String xLabel, String yLabel, List<Series> series, boolean logY) {
        this(title, subtitle, xLabel, yLabel, series, logY, null);
    }

    private LineChart(String title, String subtitle, String xLabel, String yLabel, List<Series> series, boolean logY, Reference reference) {
        this.title = title;
        this.subtitle = subtitle;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
        this.series = List.copyOf(series);
        this.logY = logY;
        this.reference = reference;
    }

    /** This chart with a reference line (drawn as a series, so the y axis always takes it in). */
    public LineChart withReference(Reference line) {
        return new LineChart(title, subtitle, xLabel, yLabel, series, logY, line);
    }

    /** A linear-y chart. */
    public LineChart(String title, String subtitle, String xLabel, String yLabel, List<Series> series) {
        this(title, subtitle, xLabel, yLabel, series, false);
    }

    /** The chart as PNG bytes at the default size. */
    public byte[] png() {
        return png(DEFAULT_WIDTH, DEFAULT_HEIGHT);
    }

    /** The chart as PNG bytes. */
    public byte[] png(int width, int height) {
        return Charts.png(render(width, height));
    }

    /** The chart drawn headless. */
    public BufferedImage render(int width, int height) {
        return Charts.render(chart(), width, height);
    }

    JFreeChart chart() {
        XYSeriesCollection data = new XYSeriesCollection();
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, false);
        Set<String> keys = new HashSet<>();
        for (int s = 0; s < series.size(); s++) {
            Series in = series.get(s);
            // Series keys must be unique in JFreeChart; a repeated name gets a numbered suffix.
            String key = in.name();
            for (int k = 2; !keys.add(key); k++) key = in.name() + " (" + k + ")";
            XYSeries out = new XYSeries(key, false, true);
            for (int i = 0; i < in.x.length; i++) {
                double x = in.x[i];
                double y = in.y[i];
                if (Double.isFinite(x) && Double.isFinite(y) && (!logY || y > 0)) out.add(x, y);
            }
            data.addSeries(out);
            renderer.setSeriesPaint(s, PALETTE[s % PALETTE.length]);
            float[] dash = s < PALETTE.length ? null : new float[] {8f, 4f};
            renderer.setSeriesStroke(s, new BasicStroke(2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND, 10f, dash, 0f));
            boolean markers = out.getItemCount() <= MARKER_LIMIT;
            renderer.setSeriesShapesVisible(s, markers);
            renderer.setSeriesShape(s, new Ellipse2D.Double(-3, -3, 6, 6));
        }
        if (reference != null && Double.isFinite(reference.y()) && (!logY || reference.y() > 0)) {
            double lo = Double.POSITIVE_INFINITY;
            double hi = Double.NEGATIVE_INFINITY;
            for (int s = 0; s < data.getSeriesCount(); s++) {
                XYSeries in = data.getSeries(s);
                if (in.getItemCount() == 0) continue;
                lo = Math.min(lo, in.getMinX());
                hi = Math.max(hi, in.getMaxX());
            }
            if (lo <= hi) {
                if (lo == hi) {  // one x: a short stroke either side, so the line still shows
                    lo -= 0.5;
                    hi += 0.5;
                }
                String key = reference.name();
                for (int k = 2; !keys.add(key); k++) key = reference.name() + " (" + k + ")";
                XYSeries line = new XYSeries(key, false, true);
                line.add(lo, reference.y());
                line.add(hi, reference.y());
                int s = data.getSeriesCount();
                data.addSeries(line);
                renderer.setSeriesPaint(s, REFERENCE);
                renderer.setSeriesStroke(s, new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 10f, new float[] {6f, 4f}, 0f));
                renderer.setSeriesShapesVisible(s, false);
            }
        }

        NumberAxis xAxis = new NumberAxis(xLabel);
        xAxis.setAutoRangeIncludesZero(false);
        ValueAxis yAxis;
        if (logY) {
            LogAxis log = new LogAxis(yLabel);
            log.setSmallestValue(1e-12);
            log.setNumberFormatOverride(new Significant());  // plain values, not 10^0.35-style exponents
            yAxis = log;
        } else {
            NumberAxis linear = new NumberAxis(yLabel);
            linear.setAutoRangeIncludesZero(false);
            yAxis = linear;
        }
        XYPlot plot = new XYPlot(data, xAxis, yAxis, renderer);
        Charts.style(plot);
        return Charts.chart(title, subtitle, plot, !series.isEmpty());
    }

    /** Three significant digits, trailing zeros dropped: 0.001, 2.5, 1.2e+04. Formatting only; parsing is not needed. */
    private static final class Significant extends NumberFormat {
        @Override
        public StringBuffer format(double number, StringBuffer out, FieldPosition pos) {
            String s = String.format(Locale.ROOT, "%.3g", number);
            int e = s.indexOf('e');
            String mantissa = e < 0 ? s : s.substring(0, e);
            if (mantissa.contains(".")) mantissa = mantissa.replaceAll("0+$", "").replaceAll("\\.$", "");
            return out.append(mantissa).append(e < 0 ? "" : s.substring(e));
        }

        @Override
        public StringBuffer format(long number, StringBuffer out, FieldPosition pos) {
            return format((double) number, out, pos);
        }

        @Override
        public Number parse(String source, ParsePosition pos) {
            throw new UnsupportedOperationException("format only");
        }
    }
}
