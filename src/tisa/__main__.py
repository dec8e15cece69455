from tisa.cli.app import main

main()
