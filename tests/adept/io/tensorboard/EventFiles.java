package adept.io.tensorboard;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnknownFieldSet;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * An event-file reader independent of adept's writer: the TFRecord framing checked with a bit-by-bit CRC-32C written
 * here (not java.util.zip.CRC32C), the Event protobufs decoded by protobuf's schema-less parser (UnknownFieldSet) with
 * TensorFlow's field numbers spelled out.
 */
public final class EventFiles {
    private EventFiles() {}

    /** CRC-32C, reflected polynomial 0x82F63B78, one bit at a time. */
    public static int crc32c(byte[] bytes, int offset, int length) {
        int crc = 0xFFFFFFFF;
        for (int i = offset; i < offset + length; i++) {
            crc ^= bytes[i] & 0xFF;
            for (int bit = 0; bit < 8; bit++) crc = (crc & 1) != 0 ? (crc >>> 1) ^ 0x82F63B78 : crc >>> 1;
        }
        return ~crc;
    }

    /** TensorFlow's masked CRC: rotate right by 15 bits, add 0xa282ead8. */
    public static int masked(int crc) {
        return Integer.rotateRight(crc, 15) + 0xa282ead8;
    }

    /** The records' payloads; every length and CRC must check out and the file must end after the last record. */
    public static List<byte[]> records(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        List<byte[]> out = new ArrayList<>();
        while (b.hasRemaining()) {
            int start = b.position();
            long length = b.getLong();
            int lengthCrc = b.getInt();
            if (lengthCrc != masked(crc32c(all, start, 8))) throw new IllegalStateException("bad length CRC at byte " + start);
            byte[] data = new byte[(int) length];
            b.get(data);
            if (b.getInt() != masked(crc32c(data, 0, data.length))) throw new IllegalStateException("bad data CRC at byte " + start);
            out.add(data);
        }
        return out;
    }

    /** A Summary.Value: tag and one of simple_value (2), histo (5), tensor (8); metadata (9). */
    public record Value(String tag, Double simple, UnknownFieldSet histo, UnknownFieldSet tensor, UnknownFieldSet metadata) {}

    /** An Event: wall_time (1), step (2), file_version (3), summary values (5), session_log status (7, null when absent). */
    public record Event(double wallTime, long step, String fileVersion, List<Value> values, Long sessionStatus) {}

    /** Decodes an Event's bytes schema-less. */
    public static Event event(byte[] bytes) throws IOException {
        UnknownFieldSet e = UnknownFieldSet.parseFrom(bytes);
        double wall = e.hasField(1) ? Double.longBitsToDouble(e.getField(1).getFixed64List().get(0)) : 0;
        long step = e.hasField(2) ? e.getField(2).getVarintList().get(0) : 0;
        String version = e.hasField(3) ? e.getField(3).getLengthDelimitedList().get(0).toStringUtf8() : null;
        List<Value> values = new ArrayList<>();
        if (e.hasField(5)) {
            UnknownFieldSet summary = UnknownFieldSet.parseFrom(e.getField(5).getLengthDelimitedList().get(0));
            if (summary.hasField(1)) {
                for (ByteString v : summary.getField(1).getLengthDelimitedList()) {
                    UnknownFieldSet value = UnknownFieldSet.parseFrom(v);
                    String tag = value.getField(1).getLengthDelimitedList().get(0).toStringUtf8();
                    Double simple = value.hasField(2) ? (double) Float.intBitsToFloat(value.getField(2).getFixed32List().get(0)) : null;
                    values.add(new Value(tag, simple, sub(value, 5), sub(value, 8), sub(value, 9)));
                }
            }
        }
        Long status = null;
        if (e.hasField(7)) {
            UnknownFieldSet log = UnknownFieldSet.parseFrom(e.getField(7).getLengthDelimitedList().get(0));
            status = log.hasField(1) ? log.getField(1).getVarintList().get(0) : 0L;
        }
        return new Event(wall, step, version, values, status);
    }

    private static UnknownFieldSet sub(UnknownFieldSet set, int number) throws IOException {
        return set.hasField(number) ? UnknownFieldSet.parseFrom(set.getField(number).getLengthDelimitedList().get(0)) : null;
    }

    /** Every event of every event file in dir, files in name order. */
    public static List<Event> events(Path dir) throws IOException {
        List<Event> out = new ArrayList<>();
        for (Path f : files(dir)) for (byte[] r : records(f)) out.add(event(r));
        return out;
    }

    /** The event files in dir, in name order. */
    public static List<Path> files(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith("events.out.tfevents.")).sorted().toList();
        }
    }

    /** Packed repeated doubles (wire type 2) of field number in set. */
    public static double[] packedDoubles(UnknownFieldSet set, int number) {
        if (!set.hasField(number)) return new double[0];
        List<Double> values = new ArrayList<>();
        for (ByteString chunk : set.getField(number).getLengthDelimitedList()) {
            ByteBuffer b = chunk.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            while (b.hasRemaining()) values.add(b.getDouble());
        }
        for (long bits : set.getField(number).getFixed64List()) values.add(Double.longBitsToDouble(bits));
        return values.stream().mapToDouble(Double::doubleValue).toArray();
    }
}
