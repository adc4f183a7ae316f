"""The policy documents and bucket rules of the program's components, as pure functions of plain
strings: tests read and evaluate them without Pulumi, and the components turn them into JSON."""
