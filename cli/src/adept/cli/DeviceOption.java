package adept.cli;

import adept.tensor.Device;
import picocli.CommandLine.Option;

/** The --device option of every command that computes (a picocli mixin): cpu, cuda or cuda:N, cpu by default. */
public final class DeviceOption {
    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N (default: ${DEFAULT-VALUE})")
    String device;

    /** The parsed device (a bad name is one line naming it). */
    public Device device() {
        return Device.parse(device);
    }

    /** The option's text, as given. */
    public String name() {
        return device;
    }
}
