package adept.cli;

import adept.tensor.Device;
import adept.tensor.Torch;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.IVersionProvider;

/** adept's, libtorch's and the JDK's versions, and the devices libtorch sees. */
public final class VersionInfo implements IVersionProvider {
    @Override
    public String[] getVersion() {
        String adept = AdeptCommand.class.getPackage().getImplementationVersion();
        List<String> lines = new ArrayList<>();
        lines.add("adept " + (adept != null ? adept : "(development build)"));
        lines.add("libtorch " + Torch.runtimeVersion() + " (runtime; shim compiled against " + Torch.compiledVersion() + ")");
        lines.add("JDK " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")");
        List<String> devices = new ArrayList<>();
        for (Device d : Torch.devices()) devices.add(d.toString());
        lines.add("devices " + String.join(", ", devices) + " (" + Torch.numThreads() + " CPU threads)");
        return lines.toArray(String[]::new);
    }
}
