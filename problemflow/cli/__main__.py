from problemflow.cli import main

main()
