package adept.report;

import java.awt.Color;
import java.awt.Font;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import javax.imageio.ImageIO;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.ValueAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.title.TextTitle;
import org.jfree.chart.ui.RectangleInsets;

/** What the charts share: headless AWT, fonts, plot styling and PNG encoding. */
final class Charts {
    static {
        // Must happen before AWT first initialises; the library and the CLI never open a window. A caller's own choice wins.
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    static final Font TITLE = new Font(Font.SANS_SERIF, Font.BOLD, 18);
    static final Font SUBTITLE = new Font(Font.SANS_SERIF, Font.PLAIN, 13);
    static final Font PANEL_TITLE = new Font(Font.SANS_SERIF, Font.BOLD, 13);
    static final Font LABEL = new Font(Font.SANS_SERIF, Font.PLAIN, 14);
    static final Font TICK = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
    static final Color TEXT = new Color(0x222222);
    static final Color SUBTLE = new Color(0x666666);
    static final Color GRID = new Color(0xDDDDDD);

    private Charts() {}

    /** Touching this from a chart class's static initialiser runs the headless set-up above first. */
    static void init() {}

    /** A chart with a title, an optional subtitle under it, and the project's look; legend as given. */
    static JFreeChart chart(String title, String subtitle, XYPlot plot, boolean legend) {
        JFreeChart chart = new JFreeChart(title, TITLE, plot, legend);
        chart.setBackgroundPaint(Color.WHITE);
        chart.setPadding(new RectangleInsets(6, 8, 6, 16));
        if (chart.getTitle() != null) chart.getTitle().setPaint(TEXT);
        if (subtitle != null && !subtitle.isEmpty()) {
            TextTitle sub = new TextTitle(subtitle, SUBTITLE);
            sub.setPaint(SUBTLE);
            chart.addSubtitle(sub);
        }
        if (chart.getLegend() != null) {
            chart.getLegend().setItemFont(TICK);
            chart.getLegend().setItemPaint(TEXT);
        }
        return chart;
    }

    /** White plot, light grid, readable axis fonts. */
    static void style(XYPlot plot) {
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(GRID);
        plot.setRangeGridlinePaint(GRID);
        plot.setOutlinePaint(new Color(0x999999));
        for (ValueAxis axis : new ValueAxis[] {plot.getDomainAxis(), plot.getRangeAxis()}) {
            if (axis == null) continue;
            axis.setLabelFont(LABEL);
            axis.setLabelPaint(TEXT);
            axis.setTickLabelFont(TICK);
            axis.setTickLabelPaint(TEXT);
        }
    }

    static BufferedImage render(JFreeChart chart, int width, int height) {
        checkSize(width, height);
        return chart.createBufferedImage(width, height, BufferedImage.TYPE_INT_RGB, null);
    }

    static void checkSize(int width, int height) {
        if (width <= 0 || height <= 0) throw new IllegalArgumentException("chart size must be positive: " + width + "x" + height);
    }

    static byte[] png(BufferedImage image) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            if (!ImageIO.write(image, "png", out)) throw new IOException("no PNG writer available");
        } catch (IOException e) {
            // Writing to memory only fails without a PNG writer, which every JDK has.
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}
