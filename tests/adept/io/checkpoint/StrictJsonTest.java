package adept.io.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonElement;
import org.junit.jupiter.api.Test;

class StrictJsonTest {
    static String fails(String text) {
        StrictJson.Malformed e = assertThrows(StrictJson.Malformed.class, () -> StrictJson.parse(text));
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        assertFalse(e.getMessage().contains("setStrictness") || e.getMessage().contains("LENIENT") || e.getMessage().contains("Troubleshooting"),
                "no advice to read leniently: " + e.getMessage());
        return e.getMessage();
    }

    @Test
    void readsStrictJsonKeepingNumberSpelling() {
        JsonElement e = StrictJson.parse(" {\"a\": [1, 2.5, 1e-06, true, null, \"x\"], \"b\": {}} \n");
        assertEquals("1e-06", e.getAsJsonObject().getAsJsonArray("a").get(2).getAsString());
        assertEquals(2.5, e.getAsJsonObject().getAsJsonArray("a").get(1).getAsDouble());
        assertTrue(e.getAsJsonObject().getAsJsonArray("a").get(4).isJsonNull());
    }

    @Test
    void refusesWhatLenientReadersAccept() {
        assertTrue(fails("{\"a\": 1, \"a\": 2}").contains("\"a\" occurs twice"));
        assertTrue(fails("{\"a\": {\"b\": 1, \"b\": 1}}").contains("\"b\" occurs twice"));
        assertTrue(fails("{\"a\": 1e400}").contains("1e400 is out of range"));
        assertTrue(fails("[-1e999]").contains("out of range"));
        fails("{a: 1}");
        fails("{\"a\": 1} // comment");
        fails("/* c */ {\"a\": 1}");
        fails("{'a': 1}");
        fails("{\"a\": NaN}");
        fails("{\"a\": 1,}");
        fails("{\"a\": 1} {}");
        assertTrue(fails("").contains("empty"));
        assertTrue(fails("  \n ").contains("empty"));
        assertTrue(fails("[".repeat(10_000)).toLowerCase(java.util.Locale.ROOT).contains("nest"), "deep nesting is an error, not a stack overflow");
    }

    @Test
    void malformedMessagesSayWhere() {
        String m = fails("{\"a\": 1,\n \"b\" 2}");
        assertTrue(m.contains("line 2"), m);
    }
}
