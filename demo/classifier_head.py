"""Three classic slips in a classifier head: a softmax over a single output unit, a log of a
softmax, and a softmax fed to a loss that applies its own."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class SpamClassifier(nn.Module):
    def __init__(self, vocab_size, dim=64):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab_size, dim)
        self.out = nn.Linear(dim, 1)

    def forward(self, tokens, offsets):
        logit = self.out(self.embed(tokens, offsets))
        return F.softmax(logit, dim=-1)  # always 1.0: use torch.sigmoid


class TopicClassifier(nn.Module):
    def __init__(self, vocab_size, n_topics, dim=64):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab_size, dim)
        self.out = nn.Linear(dim, n_topics)

    def forward(self, tokens, offsets):
        return self.out(self.embed(tokens, offsets))


def topic_loss(model, tokens, offsets, topics):
    probs = torch.softmax(model(tokens, offsets), dim=-1)
    nll = F.nll_loss(torch.log(probs), topics)  # -inf once a topic is confidently wrong
    xent = F.cross_entropy(probs, topics)  # softmax applied twice
    return nll + xent
