//! What a reporter sees of an incident's state: four public stages, not the internal workflow.

use super::workflow::State;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Received,
    UnderReview,
    ActionTaken,
    Closed,
}

impl Stage {
    pub fn of(state: State) -> Stage {
        match state {
            State::New => Stage::Received,
            State::Triaged => Stage::UnderReview,
            State::Contained | State::FixPlanned | State::Retraining | State::Verifying => {
                Stage::ActionTaken
            }
            State::Resolved | State::Rejected | State::Duplicate => Stage::Closed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Received => "received",
            Stage::UnderReview => "under_review",
            Stage::ActionTaken => "action_taken",
            Stage::Closed => "closed",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}
