from wgan_cli.cli import main

main()
