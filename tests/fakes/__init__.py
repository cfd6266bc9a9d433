"""Local fakes of the services Petrel talks to (GitHub, an OpenAI-compatible model server), served
over real HTTP so that the real PyGithub and openai clients are what the tests exercise:
`fakes.github.FakeGitHub` and `fakes.openai.FakeOpenAI`."""
