package adept.io.tensorboard;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * TFRecord framing, as TensorFlow's record writer lays out every record of an event file:
 * {@code uint64 length, uint32 masked_crc32c(length bytes), data, uint32 masked_crc32c(data)}, little-endian.
 */
public final class TfRecord {
    /** TensorFlow's mask constant: a CRC of data that holds CRCs is not itself a CRC of that data. */
    static final int MASK_DELTA = 0xa282ead8;

    private TfRecord() {}

    /** CRC-32C (Castagnoli) of bytes [offset, offset + length), masked: rotate right by 15, add 0xa282ead8. */
    public static int maskedCrc32c(byte[] bytes, int offset, int length) {
        CRC32C crc = new CRC32C();
        crc.update(bytes, offset, length);
        int c = (int) crc.getValue();
        return ((c >>> 15) | (c << 17)) + MASK_DELTA;
    }

    /** The framed record of data: 8 + 4 + data.length + 4 bytes. */
    public static byte[] frame(byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(data.length + 16).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(data.length);
        b.putInt(maskedCrc32c(b.array(), 0, 8));
        b.put(data);
        b.putInt(maskedCrc32c(data, 0, data.length));
        return b.array();
    }
}
