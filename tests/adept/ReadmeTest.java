package adept;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The README's library example is the code tools/check-library.sh compiles and runs (examples/library's TrainExample). */
class ReadmeTest {
    @Test
    void theReadmesLibraryExampleIsTheOneThatRuns() throws Exception {
        List<String> lines = Files.readAllLines(Path.of("examples/library/src/main/java/example/TrainExample.java"), StandardCharsets.UTF_8);
        int begin = lines.indexOf("        // README:begin");
        int end = lines.indexOf("        // README:end");
        assertTrue(begin > 0 && end > begin, "markers in TrainExample.java");
        StringBuilder snippet = new StringBuilder();
        for (String l : lines.subList(begin + 1, end)) snippet.append(l.substring(Math.min(8, l.length()))).append('\n');
        String readme = Files.readString(Path.of("README.md"), StandardCharsets.UTF_8);
        assertTrue(readme.contains(snippet.toString()), "README.md holds the example as it runs:\n" + snippet);
        assertTrue(readme.lines().count() <= 260, "the README stays a page for users: " + readme.lines().count() + " lines");
    }
}
