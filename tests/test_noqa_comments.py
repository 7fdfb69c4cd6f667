"""Writing `# noqa` comments (the language server's "Disable GLxxx for this line") so that the
engine reads them back."""

from gradlint.engine.suppress import suppressions, with_noqa


def test_noqa_goes_where_a_comment_can_go():
    text = (
        'a = 1  # noqa: E501\r\n'
        'b = f("""\n'
        '""")\n'
        'c = 1 + \\\n'
        '    2\n'
        'd = 1  # é\n'
    )
    after, added = with_noqa(text, {1: {"GL080"}, 2: {"GL080"}, 4: {"GL030", "GL080"}, 6: {"GL080", "GL030"}})
    assert added == 2
    assert after.splitlines(keepends=True) == [
        'a = 1  # noqa: E501, GL080\r\n',  # the line ending kept
        'b = f("""\n',  # its end lies in a string
        '""")\n',
        'c = 1 + \\\n',  # a comment cannot follow a backslash
        '    2\n',
        'd = 1  # é  # noqa: GL030, GL080\n',
    ]
    assert suppressions(after)[6] == {"GL030", "GL080"}
