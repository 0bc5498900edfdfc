package adept.io.tensorboard;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.UnknownFieldSet;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The event file against an independent reader ({@link EventFiles}): the framing and masked CRC-32C against a CRC
 * written bit by bit here and checked on the standard test vector, the Event bytes against bytes worked out by hand
 * from TensorFlow's field numbers, and histograms, text and session logs through protobuf's schema-less parser.
 */
class EventWriterTest {
    @TempDir
    Path dir;

    static byte[] hex(String h) {
        return HexFormat.of().parseHex(h.replace(" ", ""));
    }

    @Test
    void crcAndFramingAreTensorFlows() {
        byte[] check = "123456789".getBytes(StandardCharsets.US_ASCII);
        assertEquals(0xE3069283, EventFiles.crc32c(check, 0, check.length), "the CRC-32C check value (RFC 3720)");
        assertEquals(EventFiles.masked(0xE3069283), TfRecord.maskedCrc32c(check, 0, check.length));
        // masking by hand: 0xE3069283 rotated right by 15 is 0x2507C60D (low 15 bits 0x1283 move to the top), plus 0xa282ead8
        assertEquals(0x2507C60D + 0xa282ead8, EventFiles.masked(0xE3069283));
        byte[] framed = TfRecord.frame(check);
        assertEquals(8 + 4 + 9 + 4, framed.length);
        assertArrayEquals(hex("0900000000000000"), Arrays.copyOfRange(framed, 0, 8), "length, little-endian uint64");
        int lengthCrc = java.nio.ByteBuffer.wrap(framed, 8, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt();
        assertEquals(EventFiles.masked(EventFiles.crc32c(framed, 0, 8)), lengthCrc);
        assertArrayEquals(check, Arrays.copyOfRange(framed, 12, 21));
        int dataCrc = java.nio.ByteBuffer.wrap(framed, 21, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt();
        assertEquals(EventFiles.masked(0xE3069283), dataCrc);
    }

    @Test
    void eventsAreTheBytesTensorFlowWrites() throws Exception {
        Path file;
        try (EventWriter w = EventWriter.create(dir)) {
            file = w.file();
            w.scalar("a", 3, 2.0);
            w.scalar("z", 1, 0.0);
            w.scalars(7, new java.util.LinkedHashMap<>(Map.of("train/loss", 1.25)));
        }
        assertTrue(file.getFileName().toString().startsWith("events.out.tfevents."), file.toString());
        List<byte[]> records = EventFiles.records(file);
        assertEquals(4, records.size());
        // Event{wall_time (1, fixed64), file_version (3) "brain.Event:2"}
        byte[] first = records.get(0);
        assertEquals(0x09, first[0]);
        assertArrayEquals(hex("1a 0d").clone(), Arrays.copyOfRange(first, 9, 11));
        assertEquals("brain.Event:2", new String(first, 11, first.length - 11, StandardCharsets.UTF_8));
        // Event{wall_time, step (2) = 3, summary (5) {value (1) {tag (1) "a", simple_value (2, float) 2.0}}}
        byte[] second = records.get(1);
        assertEquals(0x09, second[0]);
        assertArrayEquals(hex("10 03 2a 0a 0a 08 0a 01 61 15 00 00 00 40"), Arrays.copyOfRange(second, 9, second.length));
        // a zero still has its simple_value (TensorBoard needs a value in every Value)
        byte[] third = records.get(2);
        assertArrayEquals(hex("10 01 2a 0a 0a 08 0a 01 7a 15 00 00 00 00"), Arrays.copyOfRange(third, 9, third.length));
        double wall = EventFiles.event(second).wallTime();
        assertTrue(Math.abs(wall - System.currentTimeMillis() / 1000.0) < 600, "wall time in seconds: " + wall);
        EventFiles.Event fourth = EventFiles.event(records.get(3));
        assertEquals(7, fourth.step());
        assertEquals("train/loss", fourth.values().get(0).tag());
        assertEquals(1.25, fourth.values().get(0).simple());
    }

    static double fixed64(UnknownFieldSet set, int number) {
        return Double.longBitsToDouble(set.getField(number).getFixed64List().get(0));
    }

    @Test
    void histogramsTextAndSessionStart() throws Exception {
        Path file;
        try (EventWriter w = EventWriter.create(dir)) {
            file = w.file();
            w.histogram("rates", 10, new double[] {0, 0.5, 1, 1, 2}, 4);
            w.histogram("same", 11, new double[] {3, 3}, 4);
            w.text("settings", 0, "```\nlr: 1e-4\n```");
            w.sessionStart(14);
        }
        List<EventFiles.Event> events = EventFiles.events(dir);
        assertEquals(List.of(file), EventFiles.files(dir));
        assertEquals(5, events.size());
        UnknownFieldSet h = events.get(1).values().get(0).histo();
        assertEquals(10, events.get(1).step());
        // HistogramProto: min 1, max 2, num 3, sum 4, sum_squares 5, bucket_limit 6, bucket 7
        assertFalse(h.hasField(1), "min 0 is proto3's default: not written");
        assertEquals(2.0, fixed64(h, 2));
        assertEquals(5.0, fixed64(h, 3));
        assertEquals(4.5, fixed64(h, 4));
        assertEquals(6.25, fixed64(h, 5));
        assertArrayEquals(new double[] {0.5, 1.0, 1.5, 2.0}, EventFiles.packedDoubles(h, 6));
        assertArrayEquals(new double[] {1, 1, 2, 1}, EventFiles.packedDoubles(h, 7), "counts of [0, .5), [.5, 1), [1, 1.5), [1.5, 2]");
        UnknownFieldSet same = events.get(2).values().get(0).histo();
        assertArrayEquals(new double[] {3.0}, EventFiles.packedDoubles(same, 6));
        assertArrayEquals(new double[] {2.0}, EventFiles.packedDoubles(same, 7));
        // text: TensorProto{dtype (1) DT_STRING = 7, tensor_shape (2) {} , string_val (8)}, metadata.plugin_data.plugin_name "text"
        EventFiles.Value text = events.get(3).values().get(0);
        assertEquals("settings", text.tag());
        assertEquals(7L, text.tensor().getField(1).getVarintList().get(0));
        assertTrue(text.tensor().hasField(2), "a scalar shape");
        assertEquals("```\nlr: 1e-4\n```", text.tensor().getField(8).getLengthDelimitedList().get(0).toStringUtf8());
        UnknownFieldSet plugin = UnknownFieldSet.parseFrom(text.metadata().getField(1).getLengthDelimitedList().get(0));
        assertEquals("text", plugin.getField(1).getLengthDelimitedList().get(0).toStringUtf8());
        // SessionLog{status (1) START = 1} at step 14
        assertEquals(14, events.get(4).step());
        assertEquals(1L, events.get(4).sessionStatus());
    }
}
