package adept.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Every command's --help renders cleanly: no picocli format warnings (an unescaped % in a description), no raw %n. */
class HelpTextTest {
    static void collect(CommandLine cli, List<CommandLine> into) {
        into.add(cli);
        for (CommandLine sub : cli.getSubcommands().values()) if (!into.contains(sub)) collect(sub, into);
    }

    @Test
    void everyCommandsHelpRendersWithoutWarnings() {
        List<CommandLine> all = new ArrayList<>();
        collect(AdeptCommand.commandLine(), all);
        assertTrue(all.size() > 10, "commands found: " + all.size());
        PrintStream saved = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try {
            System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
            for (CommandLine cli : all) {
                String usage = cli.getUsageMessage(CommandLine.Help.Ansi.OFF);
                String name = cli.getCommandSpec().qualifiedName();
                assertFalse(usage.contains("%n"), name + ": raw %n in\n" + usage);
                String warnings = captured.toString(StandardCharsets.UTF_8);
                assertFalse(warnings.contains("picocli WARN"), name + " --help: " + warnings);
            }
        } finally {
            System.setErr(saved);
        }
    }
}
