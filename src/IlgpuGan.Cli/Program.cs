// ilgpu-gan: train GANs on ILGPU from the command line. Each command lives in Commands/ (one file
// each) and is added in CliApp.Build; `bench` and `selftest` plug in the same way.
return IlgpuGan.Cli.Commands.CliApp.Run(args);
