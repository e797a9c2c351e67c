from lvs.cli import main

main()
