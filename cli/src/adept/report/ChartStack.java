package adept.report;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.util.List;

/** Charts drawn one under another in one PNG (a summary line above the heatmap it sums up, say), left-aligned on white. */
public final class ChartStack {
    static {
        Charts.init();
    }

    private ChartStack() {}

    /** The parts, top to bottom, as one image as wide as the widest. */
    public static BufferedImage image(List<BufferedImage> parts) {
        if (parts.isEmpty()) throw new IllegalArgumentException("nothing to stack");
        int width = 0;
        int height = 0;
        for (BufferedImage p : parts) {
            width = Math.max(width, p.getWidth());
            height += p.getHeight();
        }
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            int y = 0;
            for (BufferedImage p : parts) {
                g.drawImage(p, 0, y, null);
                y += p.getHeight();
            }
        } finally {
            g.dispose();
        }
        return out;
    }

    /** {@link #image} as PNG bytes. */
    public static byte[] png(List<BufferedImage> parts) {
        return Charts.png(image(parts));
    }
}
