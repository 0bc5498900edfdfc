package adept.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashSet;
import java.util.Set;
import javax.imageio.ImageIO;

/** Decoding and pixel checks shared by the chart tests. */
final class Images {
    private Images() {}

    static BufferedImage decode(byte[] png, int width, int height) {
        try {
            BufferedImage image = ImageIO.read(new ByteArrayInputStream(png));
            assertNotNull(image, "not a decodable image");
            assertEquals(width, image.getWidth());
            assertEquals(height, image.getHeight());
            return image;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static int distinctColours(BufferedImage image) {
        Set<Integer> seen = new HashSet<>();
        for (int y = 0; y < image.getHeight(); y++) for (int x = 0; x < image.getWidth(); x++) seen.add(image.getRGB(x, y) & 0xFFFFFF);
        return seen.size();
    }

    static int count(BufferedImage image, int rgb) {
        int n = 0;
        for (int y = 0; y < image.getHeight(); y++) for (int x = 0; x < image.getWidth(); x++) if ((image.getRGB(x, y) & 0xFFFFFF) == (rgb & 0xFFFFFF)) n++;
        return n;
    }
}
